//! Built-in accounts: one per username per tenant.

use std::sync::Arc;

use super::fixtures::{RecordingSink, tenant, user};
use crate::{Account, Store, StoreError};

fn alice(tenant_name: &str, user_id: &str) -> Account {
    Account {
        tenant: tenant(tenant_name),
        user_id: user(user_id),
        username: "alice".into(),
        password_hash: format!("hash-of-{user_id}"),
        name: Some("Alice".into()),
    }
}

pub(super) async fn create_and_conflict(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let acme = tenant("acme");
    let first = alice("acme", "u-1");
    store.create_account(first.clone()).await.expect("create_account");
    assert_eq!(store.account_by_username(&acme, "alice").await.unwrap(), Some(first.clone()));

    // A taken username is a Conflict, and the original account is untouched.
    let again = alice("acme", "u-2");
    let err = store.create_account(again).await.expect_err("a taken username must be refused");
    assert!(matches!(err, StoreError::Conflict(_)), "expected Conflict, got {err:?}");
    assert_eq!(store.account_by_username(&acme, "alice").await.unwrap(), Some(first.clone()));

    // The same username in another tenant is another account.
    let elsewhere = alice("globex", "u-1");
    store.create_account(elsewhere.clone()).await.expect("same username, other tenant");
    assert_eq!(
        store.account_by_username(&tenant("globex"), "alice").await.unwrap(),
        Some(elsewhere)
    );
    assert_eq!(store.account_by_username(&acme, "alice").await.unwrap(), Some(first));

    assert_eq!(store.account_by_username(&acme, "bob").await.unwrap(), None);
    assert_eq!(store.account_by_username(&tenant("initech"), "alice").await.unwrap(), None);

    // No name is fine.
    let bob = Account { username: "bob".into(), name: None, ..alice("acme", "u-3") };
    store.create_account(bob.clone()).await.expect("account without a name");
    assert_eq!(store.account_by_username(&acme, "bob").await.unwrap(), Some(bob));
}

pub(super) async fn concurrent_same_username(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { store.create_account(alice("acme", &format!("u-{i}"))).await },
            )
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => created += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("expected Ok or Conflict, got {e:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one of ten racing registrations wins");
    assert!(store.account_by_username(&tenant("acme"), "alice").await.unwrap().is_some());
}

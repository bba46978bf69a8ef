//! G6 at the store: another tenant naming the same ids sees nothing and changes nothing.

use std::sync::Arc;

use chinwag_proto::model::Role;

use super::fixtures::{
    RecordingSink, T0, append_n, create, direct, group, normalized, tenant, text, user,
};
use crate::{Account, HistoryRange, Store, StoreError};

fn not_found<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::NotFound(_))),
        "{what} across tenants must be NotFound, got {result:?}"
    );
}

pub(super) async fn other_tenant_sees_nothing(store: Arc<dyn Store>, sink: Arc<RecordingSink>) {
    let (acme, evil) = (tenant("acme"), tenant("evil"));
    let (ann, ben, eve) = (user("ann"), user("ben"), user("eve"));
    let id = create(&store, group(&acme, &ann, &[&ben], T0)).await.id;
    append_n(&store, &acme, &id, &ben, 3).await;
    store.mark_read(&acme, &id, &ann, 2).await.unwrap();
    let account = Account {
        tenant: acme.clone(),
        user_id: ann.clone(),
        username: "ann".into(),
        password_hash: "h".into(),
        name: None,
    };
    store.create_account(account.clone()).await.unwrap();
    let before = store.conversation(&acme, &id).await.unwrap().expect("conversation");
    let sink_before = sink.all().len();

    // Reads: the same user and conversation ids, another tenant.
    assert_eq!(store.conversation(&evil, &id).await.unwrap(), None);
    assert_eq!(store.conversation_view(&evil, &ann, &id).await.unwrap(), None);
    assert!(store.list_conversations(&evil, &ann, None, 10).await.unwrap().is_empty());
    assert!(store.memberships(&evil, &ann).await.unwrap().is_empty());
    not_found("history", store.history(&evil, &id, HistoryRange::Latest, 10).await);
    not_found("history after", store.history(&evil, &id, HistoryRange::After(0), 10).await);
    assert_eq!(store.account_by_username(&evil, "ann").await.unwrap(), None);

    // Writes.
    not_found("append", store.append(text(&evil, &id, &eve, "c-x", "pwned", T0)).await);
    // A known client_msg_id must not leak the original either.
    let first = store.history(&acme, &id, HistoryRange::After(0), 1).await.unwrap().messages;
    let known = first[0].client_msg_id.as_str().to_owned();
    not_found("append retry", store.append(text(&evil, &id, &ben, &known, "x", T0)).await);
    not_found("add_member", store.add_member(&evil, &id, &eve, Role::Owner, T0).await);
    assert!(!store.remove_member(&evil, &id, &ben).await.unwrap(), "remove_member across tenants");
    not_found("set_role", store.set_role(&evil, &id, &ben, Role::Member).await);
    not_found("set_role to owner", store.set_role(&evil, &id, &eve, Role::Owner).await);
    not_found("mark_read", store.mark_read(&evil, &id, &ann, 3).await);

    // The same username and direct key in another tenant are that tenant's own.
    store.create_account(Account { tenant: evil.clone(), ..account.clone() }).await.unwrap();
    let mine = create(&store, direct(&acme, &ann, &ben, "k", T0)).await;
    let theirs = create(&store, direct(&evil, &ann, &ben, "k", T0)).await;
    assert_ne!(mine.id, theirs.id);
    assert_eq!(store.conversation(&acme, &theirs.id).await.unwrap(), None);

    // Nothing changed for acme.
    let after = store.conversation(&acme, &id).await.unwrap().expect("conversation");
    assert_eq!(normalized(after), normalized(before));
    let view = store.conversation_view(&acme, &ann, &id).await.unwrap().expect("view");
    assert_eq!(view.read_seq, 2);
    let page = store.history(&acme, &id, HistoryRange::Latest, 10).await.unwrap();
    assert_eq!(page.messages.len(), 3);
    assert!(page.messages.iter().all(|m| m.body != "pwned"));
    assert_eq!(store.account_by_username(&acme, "ann").await.unwrap(), Some(account));
    assert_eq!(sink.all().len(), sink_before, "nothing from the other tenant reached the sink");
}

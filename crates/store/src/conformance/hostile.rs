//! G7 at the store: odd strings are data, never SQL, and come back exactly as given.
//!
//! No NUL characters: PostgreSQL `text` cannot hold them, so the server must refuse them at the
//! edge; a backend may store them or fail with an error.

use std::sync::Arc;

use chinwag_proto::ids::{ConversationId, TenantId};
use serde_json::json;

use super::fixtures::{RecordingSink, T0, group, tenant, text, user};
use crate::{Account, HistoryRange, Store};

pub(super) async fn odd_input_round_trips(store: Arc<dyn Store>, _: Arc<RecordingSink>) {
    store.ping().await.expect("ping");
    let odd = ["", "'; DROP TABLE messages; --", "\" OR 1=1 --", "ünïcödé 🦀 \u{202e}rtl", "%_\\*"];
    for (i, s) in odd.iter().enumerate() {
        let t = TenantId::new(format!("{s}-{i}"));
        let who = user(s);
        let mut new = group(&t, &who, &[], T0);
        new.id = ConversationId::new(format!("{s}#{i}"));
        new.title = Some((*s).to_owned());
        new.subject = Some((*s).to_owned());
        let (record, created) = store.create_conversation(new.clone()).await.expect("create");
        assert!(created);
        assert_eq!((record.title.as_deref(), record.subject.as_deref()), (Some(*s), Some(*s)));

        let mut m = text(&t, &new.id, &who, s, s, T0);
        m.kind = (*s).to_owned();
        let mut payload = serde_json::Map::new();
        payload.insert((*s).to_owned(), json!([*s, i, null, {"deep": *s}]));
        m.payload = Some(serde_json::Value::Object(payload));
        let stored = store.append(m.clone()).await.expect("append").message;
        assert_eq!((&stored.body, &stored.kind, &stored.payload), (&m.body, &m.kind, &m.payload));
        let page = store.history(&t, &new.id, HistoryRange::Latest, 10).await.unwrap();
        assert_eq!(page.messages, vec![stored]);
        assert!(store.append(m).await.expect("retry").duplicate);

        let account = Account {
            tenant: t.clone(),
            user_id: who.clone(),
            username: (*s).to_owned(),
            password_hash: (*s).to_owned(),
            name: Some((*s).to_owned()),
        };
        store.create_account(account.clone()).await.expect("create_account");
        assert_eq!(store.account_by_username(&t, s).await.unwrap(), Some(account));
    }

    // A large body (100 KiB) and a payload that is just `null` survive too.
    let t = tenant("acme");
    let ann = user("ann");
    let id = store.create_conversation(group(&t, &ann, &[], T0)).await.unwrap().0.id;
    let mut big = text(&t, &id, &ann, "big", &"x".repeat(100 * 1024), T0);
    big.payload = Some(serde_json::Value::Null);
    let stored = store.append(big.clone()).await.unwrap().message;
    assert_eq!(stored.body.len(), 100 * 1024);
    let page = store.history(&t, &id, HistoryRange::Latest, 1).await.unwrap();
    assert_eq!(page.messages, vec![stored]);
    store.ping().await.expect("ping");
}

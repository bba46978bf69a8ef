//! How rows become domain types, and the few values that need converting on the way in.
//!
//! The column lists are macros so queries stay `&'static str` constants (`concat!`), which
//! `prepare_cached` keys on; the mappers take the index of the list's first column so joined
//! queries can reuse them.

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, Seq, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Member, Message, Role};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::ConversationRecord;

/// Columns read by [`message`], unqualified (`messages` alone in the query).
macro_rules! message_columns {
    () => {
        "conversation_id, seq, id, sender, client_msg_id, kind, body, payload, created_at, \
         reply_to, target, edited_at, deleted, reactions"
    };
    (lm) => {
        "lm.conversation_id, lm.seq, lm.id, lm.sender, lm.client_msg_id, lm.kind, lm.body, \
         lm.payload, lm.created_at, lm.reply_to, lm.target, lm.edited_at, lm.deleted, lm.reactions"
    };
}
pub(super) use message_columns;

/// Columns read by [`conversation`], qualified with the alias `c`.
macro_rules! conversation_columns {
    () => {
        "c.id, c.tenant, c.kind, c.subject, c.title, c.created_by, c.created_at, c.last_seq, \
         c.last_activity"
    };
}
pub(super) use conversation_columns;

/// Number of columns in `conversation_columns!`.
pub(super) const CONVERSATION_WIDTH: usize = 9;

/// A message from the columns of `message_columns!` starting at `at`.
pub(super) fn message(row: &Row<'_>, at: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        conversation_id: ConversationId(row.get(at)?),
        seq: row.get(at + 1)?,
        id: MessageId(row.get(at + 2)?),
        sender: UserId(row.get(at + 3)?),
        client_msg_id: ClientMsgId(row.get(at + 4)?),
        kind: row.get(at + 5)?,
        body: row.get(at + 6)?,
        payload: payload_from_sql(row, at + 7)?,
        created_at: row.get(at + 8)?,
        reply_to: row.get(at + 9)?,
        target: row.get(at + 10)?,
        edited_at: row.get(at + 11)?,
        deleted: row.get(at + 12)?,
        reactions: reactions_from_sql(row, at + 13)?,
    })
}

/// A conversation, without its members, from `conversation_columns!` starting at `at`.
pub(super) fn conversation(row: &Row<'_>, at: usize) -> rusqlite::Result<ConversationRecord> {
    Ok(ConversationRecord {
        id: ConversationId(row.get(at)?),
        tenant: TenantId(row.get(at + 1)?),
        kind: kind_from_sql(row, at + 2)?,
        subject: row.get(at + 3)?,
        title: row.get(at + 4)?,
        created_by: UserId(row.get(at + 5)?),
        created_at: row.get(at + 6)?,
        last_seq: row.get(at + 7)?,
        last_activity: row.get(at + 8)?,
        members: Vec::new(),
    })
}

/// A member from `user_id, role, joined_at, delivered_seq, read_seq`.
pub(super) fn member(row: &Row<'_>) -> rusqlite::Result<Member> {
    let role: String = row.get(1)?;
    let role = Role::parse(&role).ok_or_else(|| corrupt(1, format!("unknown role {role:?}")))?;
    Ok(Member {
        user_id: UserId(row.get(0)?),
        role,
        joined_at: row.get(2)?,
        delivered_seq: row.get(3)?,
        read_seq: row.get(4)?,
    })
}

/// Payloads are stored as JSON text: SQLite's JSON functions can read them, and they come back
/// exactly as given.
pub(super) fn payload_to_sql(
    payload: Option<&serde_json::Value>,
) -> rusqlite::Result<Option<String>> {
    payload
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn payload_from_sql(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(at)?;
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(at, Type::Text, Box::new(e)))
}

fn kind_from_sql(row: &Row<'_>, at: usize) -> rusqlite::Result<ConversationKind> {
    let kind: String = row.get(at)?;
    match kind.as_str() {
        "direct" => Ok(ConversationKind::Direct),
        "group" => Ok(ConversationKind::Group),
        _ => Err(corrupt(at, format!("unknown conversation kind {kind:?}"))),
    }
}

/// A seq as SQLite stores it. SQLite integers are signed; seqs past `i64::MAX` cannot exist, so
/// a larger bound means "beyond everything" and saturates instead of failing.
pub(super) fn seq_to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn corrupt(at: usize, what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(at, Type::Text, what.into())
}

/// Reactions are stored as a JSON object (emoji → user ids), NULL when there are none.
pub(super) fn reactions_to_sql(
    reactions: &std::collections::BTreeMap<String, Vec<UserId>>,
) -> rusqlite::Result<Option<String>> {
    if reactions.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(reactions)
        .map(Some)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn reactions_from_sql(
    row: &Row<'_>,
    at: usize,
) -> rusqlite::Result<std::collections::BTreeMap<String, Vec<UserId>>> {
    match row.get::<_, Option<String>>(at)? {
        None => Ok(Default::default()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| corrupt(at, format!("reactions are not valid JSON: {e}"))),
    }
}

//! How PostgreSQL rows become domain types, and the values that need converting on the way in.
//!
//! The column lists are macros so queries stay `&'static str` constants (`concat!`), which the
//! statement cache keys on; the mappers take the index of the list's first column so joined
//! queries can reuse them. A row that does not map (a negative seq, an unknown role) is a
//! `Backend` error naming the column, never a panic.

use std::collections::BTreeMap;

use chinwag_proto::ids::{ClientMsgId, ConversationId, MessageId, Seq, TenantId, UserId};
use chinwag_proto::model::{ConversationKind, Member, Message, Role};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::{ConversationRecord, StoreError, StoreResult};

/// Columns read by [`message`], qualified with the alias `m`.
macro_rules! message_columns {
    () => {
        "m.conversation_id, m.seq, m.id, m.sender, m.client_msg_id, m.kind, m.body, m.payload, \
         m.created_at, m.reply_to, m.target, m.edited_at, m.deleted, m.reactions"
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

/// Column `at` of `row`, or a `Backend` error naming it.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, at: usize) -> StoreResult<T> {
    row.try_get(at).map_err(|e| corrupt(row, at, &e.to_string()))
}

/// A seq or watermark column: `bigint`, never negative.
pub(super) fn seq(row: &Row, at: usize) -> StoreResult<Seq> {
    let value: i64 = get(row, at)?;
    Seq::try_from(value).map_err(|_| corrupt(row, at, &format!("negative seq {value}")))
}

fn opt_seq(row: &Row, at: usize) -> StoreResult<Option<Seq>> {
    match get::<Option<i64>>(row, at)? {
        Some(v) => {
            Seq::try_from(v).map(Some).map_err(|_| corrupt(row, at, &format!("negative seq {v}")))
        }
        None => Ok(None),
    }
}

/// A message from the columns of `message_columns!` starting at `at`.
pub(super) fn message(row: &Row, at: usize) -> StoreResult<Message> {
    Ok(Message {
        conversation_id: ConversationId(get(row, at)?),
        seq: seq(row, at + 1)?,
        id: MessageId(get(row, at + 2)?),
        sender: UserId(get(row, at + 3)?),
        client_msg_id: ClientMsgId(get(row, at + 4)?),
        kind: get(row, at + 5)?,
        body: get(row, at + 6)?,
        payload: match get::<Option<&str>>(row, at + 7)? {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| corrupt(row, at + 7, &format!("payload is not JSON: {e}")))?,
            ),
            None => None,
        },
        created_at: get(row, at + 8)?,
        reply_to: opt_seq(row, at + 9)?,
        target: opt_seq(row, at + 10)?,
        edited_at: get(row, at + 11)?,
        deleted: get(row, at + 12)?,
        reactions: match get::<Option<&str>>(row, at + 13)? {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| corrupt(row, at + 13, &format!("reactions are not JSON: {e}")))?,
            None => BTreeMap::new(),
        },
    })
}

/// A conversation, without its members, from `conversation_columns!` starting at `at`.
pub(super) fn conversation(row: &Row, at: usize) -> StoreResult<ConversationRecord> {
    let kind: &str = get(row, at + 2)?;
    let kind = match kind {
        "direct" => ConversationKind::Direct,
        "group" => ConversationKind::Group,
        other => return Err(corrupt(row, at + 2, &format!("unknown conversation kind {other:?}"))),
    };
    Ok(ConversationRecord {
        id: ConversationId(get(row, at)?),
        tenant: TenantId(get(row, at + 1)?),
        kind,
        subject: get(row, at + 3)?,
        title: get(row, at + 4)?,
        created_by: UserId(get(row, at + 5)?),
        created_at: get(row, at + 6)?,
        last_seq: seq(row, at + 7)?,
        last_activity: get(row, at + 8)?,
        members: Vec::new(),
    })
}

/// A member from `user_id, role, joined_at, delivered_seq, read_seq` starting at `at`.
pub(super) fn member(row: &Row, at: usize) -> StoreResult<Member> {
    let role: &str = get(row, at + 1)?;
    let role =
        Role::parse(role).ok_or_else(|| corrupt(row, at + 1, &format!("unknown role {role:?}")))?;
    Ok(Member {
        user_id: UserId(get(row, at)?),
        role,
        joined_at: get(row, at + 2)?,
        delivered_seq: seq(row, at + 3)?,
        read_seq: seq(row, at + 4)?,
    })
}

/// A seq as PostgreSQL stores it. Seqs past `i64::MAX` cannot exist, so a larger bound means
/// "beyond everything" and saturates instead of failing.
pub(super) fn seq_to_sql(seq: Seq) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A payload as stored: its JSON text.
pub(super) fn payload_to_sql(payload: Option<&serde_json::Value>) -> StoreResult<Option<String>> {
    payload
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encoding a payload: {e}")))
}

/// Reactions as stored: a JSON object (emoji → user ids), NULL when there are none.
pub(super) fn reactions_to_sql(
    reactions: &BTreeMap<String, Vec<UserId>>,
) -> StoreResult<Option<String>> {
    if reactions.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(reactions)
        .map(Some)
        .map_err(|e| StoreError::Backend(format!("encoding reactions: {e}")))
}

fn corrupt(row: &Row, at: usize, what: &str) -> StoreError {
    let column = row.columns().get(at).map_or("?", |c| c.name());
    StoreError::Backend(format!("column {column}: {what}"))
}

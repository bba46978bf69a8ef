//! Line mode: one command or message per stdin line, one event per stdout line. Made for
//! scripts and tests; every line starts with a fixed word so it can be matched.
//!
//! Commands: `/list`, `/open <conversation>`, `/to <conversation> <text>`, `/read`,
//! `/typing on|off`, `/status`, `/wait` (until the outbox is empty), `/quit`. Any other line is
//! sent to the open conversation. End of input quits (the outbox stays in the state file).

use std::collections::HashMap;
use std::time::Duration;

use chinwag_client::{
    Client, ConnectionState, Event, Events, HistoryQuery, MessageState, OfflineReason, Recovery,
};
use chinwag_proto::ids::{ConversationId, Seq};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Session, title};

pub(super) async fn run(
    session: Session,
    mut events: Events,
    open: Option<String>,
) -> anyhow::Result<()> {
    let client = &session.client;
    let mut current: Option<ConversationId> = open.map(ConversationId::new);
    // The newest seq seen per conversation (history pages and live messages), for `/read`.
    let mut latest: HashMap<ConversationId, Seq> = HashMap::new();
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut waiting = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    match command(&session, client, &mut current, &mut latest, line.trim()).await {
                        Step::Continue => {}
                        Step::Wait => waiting = true,
                        Step::Quit => break,
                    }
                }
                _ => {
                    stdin_open = false;
                    if !waiting {
                        break;
                    }
                }
            },
            event = events.next() => match event {
                Some(e) => {
                    if let Event::Message(m) = &e {
                        let l = latest.entry(m.conversation_id.clone()).or_insert(0);
                        *l = (*l).max(m.seq);
                    }
                    print_event(&e)
                }
                None => break,
            },
            _ = tick.tick(), if waiting => {
                if client.outbox_len() == 0 {
                    println!("outbox empty");
                    waiting = false;
                    if !stdin_open {
                        break;
                    }
                }
            }
        }
    }
    client.close().await;
    Ok(())
}

enum Step {
    Continue,
    Wait,
    Quit,
}

async fn command(
    session: &Session,
    client: &Client,
    current: &mut Option<ConversationId>,
    latest: &mut HashMap<ConversationId, Seq>,
    line: &str,
) -> Step {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    match word {
        "" => {}
        "/quit" => return Step::Quit,
        "/wait" => return Step::Wait,
        "/list" => match session.conversations().await {
            Ok(list) => {
                let me = client.user().map(|u| u.id.to_string());
                for c in list {
                    println!(
                        "conversation {} unread={} last_seq={} title={}",
                        c.id,
                        c.unread,
                        c.last_seq,
                        title(&c, me.as_deref())
                    );
                }
                println!("end list");
            }
            Err(e) => println!("error list: {e}"),
        },
        "/open" if !rest.is_empty() => {
            let id = ConversationId::new(rest);
            println!("opened {id}");
            match client
                .history(id.clone(), HistoryQuery { limit: Some(20), ..Default::default() })
                .await
            {
                Ok(page) => {
                    for m in page.messages {
                        println!(
                            "history {} {} {}: {}",
                            m.conversation_id, m.seq, m.sender, m.body
                        );
                        let l = latest.entry(id.clone()).or_insert(0);
                        *l = (*l).max(m.seq);
                    }
                }
                Err(e) => println!("error history: {e}"),
            }
            *current = Some(id);
        }
        "/to" => match rest.split_once(' ') {
            Some((conv, text)) => send(client, &ConversationId::new(conv), text).await,
            None => println!("error usage: /to <conversation> <text>"),
        },
        "/read" => match current.as_ref().and_then(|c| {
            let seq = client.position(c).max(latest.get(c).copied());
            seq.map(|s| (c, s))
        }) {
            Some((c, seq)) => match client.mark_read(c.clone(), seq).await {
                Ok(()) => println!("marked {c} read_seq={seq}"),
                Err(e) => println!("error read: {e}"),
            },
            None => println!("error nothing to mark read"),
        },
        "/typing" => match current {
            Some(c) => {
                if let Err(e) = client.typing(c.clone(), rest != "off").await {
                    println!("error typing: {e}");
                }
            }
            None => println!("error no conversation open"),
        },
        "/status" => {
            let q = client.quality();
            println!(
                "status {} quality={} rtt_ms={} outbox={}",
                state_text(&client.connection_state()),
                q.quality.as_str(),
                q.rtt.map(|r| r.as_millis().to_string()).unwrap_or_else(|| "-".into()),
                client.outbox_len()
            );
        }
        w if w.starts_with('/') => println!("error unknown command {w}"),
        _ => match current {
            Some(c) => send(client, &c.clone(), line).await,
            None => println!("error no conversation open (use /open <id>)"),
        },
    }
    Step::Continue
}

async fn send(client: &Client, conversation: &ConversationId, text: &str) {
    match client.send(conversation.clone(), text).await {
        Ok(out) => println!("queued {} {}", out.client_msg_id, conversation),
        Err(e) => println!("error send: {e}"),
    }
}

fn state_text(s: &ConnectionState) -> String {
    match s {
        ConnectionState::Connecting => "connecting".into(),
        ConnectionState::Connected => "connected".into(),
        ConnectionState::Reconnecting { attempt, retry_in } => {
            format!("reconnecting {attempt} {}", retry_in.as_millis())
        }
        ConnectionState::Offline(OfflineReason::BreakerOpen { retry_in }) => {
            format!("offline breaker {}", retry_in.as_millis())
        }
        ConnectionState::Offline(OfflineReason::ClosedByServer { code, .. }) => {
            format!("offline closed {code}")
        }
        ConnectionState::Offline(OfflineReason::Closed) => "offline closed".into(),
    }
}

fn print_event(e: &Event) {
    match e {
        Event::Message(m) => println!(
            "message {} {} {} {} {}",
            m.conversation_id, m.seq, m.sender, m.client_msg_id, m.body
        ),
        Event::MessageState(s) => {
            let mut line = format!("state {} {}", s.client_msg_id, s.state.as_str());
            if let Some(seq) = s.seq {
                line.push_str(&format!(" seq={seq}"));
            }
            if s.state == MessageState::Failed
                && let Some(err) = &s.error
            {
                line.push_str(&format!(" error={err}"));
            }
            println!("{line}");
        }
        Event::Receipt { conversation_id, user_id, delivered_seq, read_seq } => {
            println!(
                "receipt {conversation_id} {user_id} delivered={delivered_seq} read={read_seq}"
            )
        }
        Event::Typing { conversation_id, user_id, typing } => {
            println!("typing {conversation_id} {user_id} {}", if *typing { "on" } else { "off" })
        }
        Event::Presence(p) => {
            println!("presence {} {}", p.user_id, if p.online { "online" } else { "offline" })
        }
        Event::Draft { conversation_id, draft } => {
            println!("draft {conversation_id} version={} {}", draft.version, draft.body)
        }
        Event::Conversation(c) => println!("conversation {} unread={}", c.id, c.unread),
        Event::MemberAdded { conversation_id, member } => {
            println!("member_added {conversation_id} {}", member.user_id)
        }
        Event::MemberUpdated { conversation_id, member } => {
            println!("member_updated {conversation_id} {} {}", member.user_id, member.role.as_str())
        }
        Event::MemberRemoved { conversation_id, user_id } => {
            println!("member_removed {conversation_id} {user_id}")
        }
        Event::ReadUpdated { conversation_id, read_seq, unread } => {
            println!("read {conversation_id} read_seq={read_seq} unread={unread}")
        }
        Event::Connection(s) => println!("connection {}", state_text(s)),
        Event::Resumed(Recovery::Recovered { replayed }) => {
            println!("resumed recovered {replayed}")
        }
        Event::Resumed(Recovery::Resynced { replayed, unavailable }) => {
            let ids: Vec<String> = unavailable.iter().map(|c| c.to_string()).collect();
            println!("resumed resynced {replayed} unavailable={}", ids.join(","))
        }
        Event::Quality(q) => println!(
            "quality {} rtt_ms={}",
            q.quality.as_str(),
            q.rtt.map(|r| r.as_millis().to_string()).unwrap_or_else(|| "-".into())
        ),
        Event::Error(e) => println!("error {e}"),
        _ => {}
    }
}

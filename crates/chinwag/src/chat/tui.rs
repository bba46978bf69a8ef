//! The interactive terminal: conversations with unread counts on the left, the open
//! conversation on the right with message states (✓ sent, ✓✓ delivered, read), who is typing,
//! and a status line with the connection state and its quality. Keys: Tab switches between the
//! list and the input, ↑/↓ and Enter open a conversation, Enter sends, Esc or Ctrl-C quits.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chinwag_client::outbox::OutboxEntry;
use chinwag_client::{ConnectionState, Event, Events, HistoryQuery, MessageState, OfflineReason};
use chinwag_proto::commands::SendMessage;
use chinwag_proto::frames::{ClientFrame, Request};
use chinwag_proto::ids::{ConversationId, Seq, UserId};
use chinwag_proto::model::{Conversation, Message};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, List, ListItem, ListState, Paragraph, Wrap};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Session, title};

/// Keys waiting to be handled; the reading thread waits when it is full.
const KEY_QUEUE: usize = 64;
/// Repeat `typing: true` this often while the user types (the server lapses it after 5 s).
const TYPING_EVERY: Duration = Duration::from_millis(2_500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    List,
    Input,
}

struct App {
    me: Option<String>,
    conversations: Vec<Conversation>,
    list: ListState,
    open: Option<ConversationId>,
    /// The open conversation's messages by seq.
    messages: BTreeMap<Seq, Message>,
    /// States of own messages by client_msg_id.
    states: HashMap<String, MessageState>,
    typing: BTreeMap<UserId, bool>,
    input: String,
    focus: Focus,
    connection: ConnectionState,
    quality: String,
    notice: String,
    last_typing: Option<Instant>,
    pending: Vec<OutboxEntry>,
}

pub(super) async fn run(
    session: Session,
    mut events: Events,
    open: Option<String>,
) -> anyhow::Result<()> {
    let client = session.client.clone();
    let (key_tx, mut keys) = mpsc::channel(KEY_QUEUE);
    std::thread::spawn(move || {
        while let Ok(e) = crossterm::event::read() {
            if key_tx.blocking_send(e).is_err() {
                return;
            }
        }
    });
    let mut app = App {
        me: None,
        conversations: Vec::new(),
        list: ListState::default().with_selected(Some(0)),
        open: None,
        messages: BTreeMap::new(),
        states: HashMap::new(),
        typing: BTreeMap::new(),
        input: String::new(),
        focus: Focus::List,
        connection: client.connection_state(),
        quality: "offline".into(),
        notice: "Tab: list/input · Enter: open/send · Esc: quit".into(),
        last_typing: None,
        pending: Vec::new(),
    };
    let mut terminal = ratatui::try_init()?;
    let result = async {
        refresh_list(&session, &mut app).await;
        if let Some(id) = open {
            open_conversation(&session, &mut app, ConversationId::new(id)).await;
        }
        let mut redraw = tokio::time::interval(Duration::from_millis(250));
        loop {
            app.pending = client.outbox().unwrap_or_default();
            let q = client.quality();
            app.quality = match q.rtt {
                Some(rtt) => format!("{} {} ms", q.quality.as_str(), rtt.as_millis()),
                None => q.quality.as_str().to_owned(),
            };
            terminal.draw(|f| draw(f, &mut app))?;
            tokio::select! {
                key = keys.recv() => match key {
                    Some(TermEvent::Key(k)) if k.kind == KeyEventKind::Press => {
                        if !on_key(&session, &mut app, k).await {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => break,
                },
                event = events.next() => match event {
                    Some(e) => on_event(&session, &mut app, e).await,
                    None => break,
                },
                _ = redraw.tick() => {}
            }
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    ratatui::restore();
    client.close().await;
    result
}

async fn refresh_list(session: &Session, app: &mut App) {
    app.me = session.client.user().map(|u| u.id.to_string());
    match session.conversations().await {
        Ok(list) => app.conversations = list,
        Err(e) => app.notice = format!("conversations: {e}"),
    }
}

async fn open_conversation(session: &Session, app: &mut App, id: ConversationId) {
    app.messages.clear();
    app.typing.clear();
    for m in session.client.cached_messages(&id) {
        app.messages.insert(m.seq, m);
    }
    match session
        .client
        .history(id.clone(), HistoryQuery { limit: Some(50), ..Default::default() })
        .await
    {
        Ok(page) => {
            for m in page.messages {
                app.messages.insert(m.seq, m);
            }
        }
        Err(e) => app.notice = format!("history: {e} (showing what is cached)"),
    }
    app.open = Some(id.clone());
    app.focus = Focus::Input;
    mark_read(session, app).await;
}

async fn mark_read(session: &Session, app: &mut App) {
    let Some(id) = app.open.clone() else { return };
    let Some(last) = app.messages.keys().next_back().copied() else { return };
    if let Some(c) = app.conversations.iter_mut().find(|c| c.id == id) {
        if c.read_seq >= last {
            return;
        }
        c.read_seq = last;
        c.unread = 0;
    }
    if let Err(e) = session.client.mark_read(id, last).await {
        app.notice = format!("read: {e}");
    }
}

/// Returns false to quit.
async fn on_key(session: &Session, app: &mut App, k: KeyEvent) -> bool {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    match (k.code, app.focus) {
        (KeyCode::Esc, _) => return false,
        (KeyCode::Char('c'), _) if ctrl => return false,
        (KeyCode::Tab, _) => {
            app.focus = if app.focus == Focus::List { Focus::Input } else { Focus::List };
        }
        (KeyCode::Up, Focus::List) => {
            let i = app.list.selected().unwrap_or(0);
            app.list.select(Some(i.saturating_sub(1)));
        }
        (KeyCode::Down, Focus::List) => {
            let i = app.list.selected().unwrap_or(0);
            let last = app.conversations.len().saturating_sub(1);
            app.list.select(Some((i + 1).min(last)));
        }
        (KeyCode::Char('r'), Focus::List) => refresh_list(session, app).await,
        (KeyCode::Enter, Focus::List) => {
            let chosen =
                app.list.selected().and_then(|i| app.conversations.get(i)).map(|c| c.id.clone());
            if let Some(id) = chosen {
                open_conversation(session, app, id).await;
            }
        }
        (KeyCode::Enter, Focus::Input) => {
            let text = std::mem::take(&mut app.input);
            match (&app.open, text.trim().is_empty()) {
                (Some(id), false) => match session.client.send(id.clone(), text).await {
                    Ok(out) => {
                        app.states.insert(out.client_msg_id.to_string(), MessageState::Sending);
                    }
                    Err(e) => app.notice = format!("send: {e}"),
                },
                (None, _) => app.notice = "open a conversation first (Tab, ↑/↓, Enter)".into(),
                _ => {}
            }
            if let Some(id) = app.open.clone() {
                app.last_typing = None;
                let client = session.client.clone();
                tokio::spawn(async move { client.typing(id, false).await });
            }
        }
        (KeyCode::Backspace, Focus::Input) => {
            app.input.pop();
        }
        (KeyCode::Char(c), Focus::Input) => {
            app.input.push(c);
            let due = app.last_typing.is_none_or(|t| t.elapsed() >= TYPING_EVERY);
            if let (Some(id), true) = (app.open.clone(), due) {
                app.last_typing = Some(Instant::now());
                // Typing is best effort: not worth waiting for, nor queueing while offline.
                let client = session.client.clone();
                tokio::spawn(async move { client.typing(id, true).await });
            }
        }
        _ => {}
    }
    true
}

async fn on_event(session: &Session, app: &mut App, e: Event) {
    match e {
        Event::Message(m) => {
            let mine = app.me.as_deref() == Some(m.sender.as_str());
            if app.open.as_ref() == Some(&m.conversation_id) {
                app.typing.remove(&m.sender);
                app.messages.insert(m.seq, m);
                mark_read(session, app).await;
            } else if let Some(c) = app.conversations.iter_mut().find(|c| c.id == m.conversation_id)
            {
                c.last_seq = c.last_seq.max(m.seq);
                if !mine {
                    c.unread += 1;
                }
            } else {
                refresh_list(session, app).await;
            }
        }
        Event::MessageState(s) => {
            app.states.insert(s.client_msg_id.to_string(), s.state);
            if let (MessageState::Failed, Some(err)) = (s.state, s.error) {
                app.notice = format!("not sent: {err}");
            }
        }
        Event::Typing { conversation_id, user_id, typing }
            if app.open.as_ref() == Some(&conversation_id) =>
        {
            app.typing.insert(user_id, typing);
        }
        Event::ReadUpdated { conversation_id, read_seq, unread } => {
            if let Some(c) = app.conversations.iter_mut().find(|c| c.id == conversation_id) {
                c.read_seq = read_seq;
                c.unread = unread;
            }
        }
        Event::Conversation(_) | Event::MemberRemoved { .. } | Event::MemberAdded { .. } => {
            refresh_list(session, app).await;
        }
        Event::Connection(s) => {
            if s == ConnectionState::Connected {
                app.me = session.client.user().map(|u| u.id.to_string());
            }
            app.connection = s;
        }
        Event::Error(e) => app.notice = e,
        _ => {}
    }
}

fn draw(f: &mut ratatui::Frame<'_>, app: &mut App) {
    let [status, body, typing, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(3),
    ])
    .areas(f.area());
    let [left, right] =
        Layout::horizontal([Constraint::Length(30), Constraint::Min(20)]).areas(body);

    let connection = match &app.connection {
        ConnectionState::Connecting => "connecting…".to_owned(),
        ConnectionState::Connected => "connected".to_owned(),
        ConnectionState::Reconnecting { attempt, retry_in } => {
            format!("reconnecting (attempt {attempt}, in {} ms)", retry_in.as_millis())
        }
        ConnectionState::Offline(OfflineReason::BreakerOpen { retry_in }) => {
            format!("offline (retry in {} s)", retry_in.as_secs())
        }
        ConnectionState::Offline(_) => "offline".to_owned(),
    };
    let queued = app
        .pending
        .iter()
        .filter(|e| matches!(e.frame, ClientFrame { request: Request::Send(_), .. }))
        .count();
    let line = Line::from(vec![
        Span::raw(format!(" {} ", app.me.as_deref().unwrap_or("?"))).bold(),
        Span::raw(format!("· {connection} · quality {} · outbox {queued} · ", app.quality)),
        Span::raw(app.notice.clone()).italic(),
    ]);
    f.render_widget(Paragraph::new(line).reversed(), status);

    let me = app.me.clone();
    let items: Vec<ListItem<'_>> = app
        .conversations
        .iter()
        .map(|c| {
            let unread = if c.unread > 0 { format!(" ({})", c.unread) } else { String::new() };
            let open = if app.open.as_ref() == Some(&c.id) { "▸ " } else { "  " };
            ListItem::new(format!("{open}{}{unread}", title(c, me.as_deref())))
        })
        .collect();
    let list_block = Block::bordered().title(if app.focus == Focus::List {
        "[conversations]"
    } else {
        " conversations "
    });
    let list = List::new(items).block(list_block).highlight_style(Style::new().reversed());
    f.render_stateful_widget(list, left, &mut app.list);

    let mut lines: Vec<Line<'_>> = Vec::new();
    for m in app.messages.values() {
        let mark = match app.states.get(m.client_msg_id.as_str()) {
            _ if me.as_deref() != Some(m.sender.as_str()) => "",
            Some(MessageState::Read) => " read",
            Some(MessageState::Delivered) => " ✓✓",
            Some(MessageState::Failed) => " failed",
            _ => " ✓",
        };
        let body = if m.deleted { "(deleted)".to_owned() } else { m.body.clone() };
        lines.push(Line::from(vec![
            Span::raw(format!("{:>5} ", m.seq)).dim(),
            Span::raw(format!("{}: ", m.sender)).bold(),
            Span::raw(body),
            Span::raw(mark).dim(),
        ]));
    }
    for e in app.pending.iter().filter(|e| Some(&e.conversation_id) == app.open.as_ref()) {
        if let Request::Send(SendMessage { body, .. }) = &e.frame.request {
            let how = if e.failed { "failed" } else { "sending…" };
            lines.push(Line::from(vec![
                Span::raw("      ").dim(),
                Span::raw(format!("{}: ", me.as_deref().unwrap_or("me"))).bold(),
                Span::raw(body.clone()),
                Span::raw(format!(" {how}")).dim(),
            ]));
        }
    }
    let height = right.height.saturating_sub(2) as usize;
    let skip = lines.len().saturating_sub(height);
    let title = app
        .open
        .as_ref()
        .map(|o| format!(" {o} "))
        .unwrap_or_else(|| " no conversation open ".into());
    let messages = Paragraph::new(lines.split_off(skip))
        .block(Block::bordered().title(title))
        .wrap(Wrap { trim: false });
    f.render_widget(messages, right);

    let typists: Vec<&str> =
        app.typing.iter().filter(|(_, t)| **t).map(|(u, _)| u.as_str()).collect();
    let typing_line = if typists.is_empty() {
        String::new()
    } else {
        format!(" {} typing…", typists.join(", "))
    };
    f.render_widget(Paragraph::new(typing_line).italic(), typing);

    let input_block =
        Block::bordered().title(if app.focus == Focus::Input { "[message]" } else { " message " });
    f.render_widget(Paragraph::new(app.input.as_str()).block(input_block), input);
}

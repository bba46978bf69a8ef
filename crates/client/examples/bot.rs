//! A small bot on the Chinwag SDK: it answers commands in every conversation it is in.
//!
//! ```text
//! !ping          → pong, with the connection's round trip
//! !echo <text>   → <text>
//! !roll          → a number from 1 to 6
//! !help          → the commands
//! ```
//!
//! Run it against a server (`cargo run -p chinwag -- serve --demo`) with a token, e.g. bob's:
//!
//! ```sh
//! TOKEN=$(curl -s -X POST localhost:8080/v1/accounts/login -H 'content-type: application/json' \
//!   -d '{"username":"bob","password":"chinwag-demo"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
//! CHINWAG_TOKEN=$TOKEN cargo run -p chinwag-client --example bot
//! ```
//!
//! Answers go through the outbox (`bot.db`), so a reply owed when the server or the bot
//! restarts is still delivered, once.

use chinwag_client::{Client, ClientConfig, ConnectionState, Event, StartFrom};

const HELP: &str = "commands: !ping, !echo <text>, !roll, !help";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("CHINWAG_URL").unwrap_or_else(|_| "ws://127.0.0.1:8080/v1/ws".into());
    let token = std::env::var("CHINWAG_TOKEN").map_err(|_| "set CHINWAG_TOKEN")?;
    let state = std::env::var("CHINWAG_BOT_STATE").unwrap_or_else(|_| "bot.db".into());
    let config = ClientConfig {
        state_path: Some(state.into()),
        // A bot answers what is said from now on, not the whole history.
        start_from: StartFrom::Now,
        ..ClientConfig::default()
    };
    let (client, mut events) = Client::connect_with(url, token, config).await?;
    let mut rolls: u64 = 0x2545_f491_4f6c_dd1d;
    while let Some(event) = events.next().await {
        match event {
            Event::Connection(ConnectionState::Connected) => {
                let who = client.user().map(|u| u.id.to_string()).unwrap_or_default();
                println!("connected as {who}; {} queued", client.outbox_len());
            }
            Event::Connection(other) => println!("connection: {other:?}"),
            Event::Message(m) => {
                let me = client.user().map(|u| u.id);
                if Some(&m.sender) == me.as_ref() {
                    continue;
                }
                let answer = match m.body.split_once(' ').unwrap_or((m.body.as_str(), "")) {
                    ("!ping", _) => Some(match client.quality().rtt {
                        Some(rtt) => format!("pong ({} ms round trip)", rtt.as_millis()),
                        None => "pong".to_owned(),
                    }),
                    ("!echo", text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
                    ("!roll", _) => {
                        rolls ^= rolls << 13;
                        rolls ^= rolls >> 7;
                        rolls ^= rolls << 17;
                        Some(format!("🎲 {}", rolls % 6 + 1))
                    }
                    ("!help", _) => Some(HELP.to_owned()),
                    _ => None,
                };
                if let Some(text) = answer {
                    match client.send(m.conversation_id.clone(), text).await {
                        Ok(out) => println!("answering {} in {}", m.sender, out.conversation_id),
                        Err(e) => eprintln!("cannot answer: {e}"),
                    }
                    // Mark what the bot has answered as read.
                    let _ = client.mark_read(m.conversation_id.clone(), m.seq).await;
                }
            }
            Event::MessageState(s) => println!("{} {}", s.client_msg_id, s.state.as_str()),
            Event::Quality(q) => println!("quality {}", q.quality.as_str()),
            Event::Error(e) => eprintln!("error: {e}"),
            _ => {}
        }
    }
    Ok(())
}

//! The cloneable handle. It writes outgoing changes to the outbox itself (so a send is durable
//! before the call returns), then tells the driver task, which owns the socket.
//!
//! Here: starting a client, what it knows now (state, quality, cache), reconnect and close;
//! `send`: changes that go through the outbox; `requests`: what needs a connection and a reply.

mod requests;
mod send;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chinwag_proto::ids::{ConversationId, Seq};
use chinwag_proto::model::{Message, UserInfo};
use tokio::sync::{mpsc, watch};

pub use self::requests::{HistoryPage, HistoryQuery};
pub use self::send::{NewMessage, Outgoing, new_client_msg_id};
use crate::backoff::{Backoff, Jitter};
use crate::cache::{CacheError, CacheStats, HistoryCache};
use crate::command::{COMMAND_CAPACITY, Command};
use crate::config::ClientConfig;
use crate::driver::Driver;
use crate::error::{ClientError, SendError};
use crate::events::{ConnectionState, Events};
use crate::outbox::Outbox;
use crate::quality::QualityReport;
use crate::shared::{Shared, lock};
use crate::token::TokenProvider;

/// A Chinwag connection: cheap to clone, usable from any task.
///
/// One driver task per client owns the socket; handles talk to it over a bounded channel.
/// Dropping every handle (or [`Client::close`]) stops the driver; whatever is in the outbox
/// stays in the state file for the next start.
///
/// ```no_run
/// use chinwag_client::{Client, ClientConfig, Event};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ClientConfig { state_path: Some("alice.db".into()), ..ClientConfig::default() };
/// let (client, mut events) =
///     Client::connect_with("ws://127.0.0.1:8080/v1/ws", String::from("<token>"), config).await?;
/// client.send("01J9Z...", "Is the bike still for sale?").await?;
/// while let Some(event) = events.next().await {
///     match event {
///         Event::Message(m) => println!("{}: {}", m.sender, m.body),
///         Event::MessageState(s) => println!("{} is {}", s.client_msg_id, s.state.as_str()),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
    cmd: mpsc::Sender<Command>,
}

impl Client {
    /// Start a client with the default configuration (in-memory outbox). Returns at once: the
    /// connection is made in the background, and sends are queued until it is up.
    pub async fn connect(
        url: impl Into<String>,
        tokens: impl TokenProvider,
    ) -> Result<(Client, Events), ClientError> {
        Self::connect_with(url, tokens, ClientConfig::default()).await
    }

    /// Start a client with `config`. Opens (or creates) the state file and re-queues whatever
    /// it holds, with the same `client_msg_id`s.
    pub async fn connect_with(
        url: impl Into<String>,
        tokens: impl TokenProvider,
        config: ClientConfig,
    ) -> Result<(Client, Events), ClientError> {
        let url = url.into();
        if !(url.starts_with("ws://") && url.len() > "ws://".len()) {
            return Err(ClientError::InvalidUrl {
                url,
                reason: "expected ws://host:port/v1/ws".into(),
            });
        }
        config.validate().map_err(ClientError::Config)?;
        let path = config.state_path.clone();
        let capacity = config.outbox_capacity;
        let (outbox, entries, positions) = tokio::task::spawn_blocking(move || {
            let outbox = match &path {
                Some(p) => Outbox::open(p, capacity)?,
                None => Outbox::in_memory(capacity)?,
            };
            let entries = outbox.entries()?;
            let positions = outbox.load_positions()?;
            Ok::<_, ClientError>((outbox, entries, positions))
        })
        .await
        .map_err(|e| ClientError::Config(format!("opening the state file: {e}")))??;

        let mut cache = HistoryCache::new(config.cache.clone());
        for p in positions.0 {
            cache.set_position(p.conversation_id, p.seq);
        }
        if let Some(c) = positions.1 {
            cache.set_cursor(c);
        }
        let seed = config.backoff_seed.unwrap_or_else(Jitter::entropy_seed);
        let backoff = Backoff::new(config.backoff.clone(), seed);
        // Bounded: when the application does not keep up, the driver waits for room (and stops
        // reading the socket meanwhile); see `Events`.
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_CAPACITY);
        let shared = Arc::new(Shared {
            outbox: Mutex::new(outbox),
            cache: Mutex::new(cache),
            state: watch::Sender::new(ConnectionState::Connecting),
            quality: watch::Sender::new(QualityReport::OFFLINE),
            session: Mutex::new(None),
            typing: Mutex::new(HashMap::new()),
            reload: AtomicBool::new(false),
            reconnect: AtomicBool::new(false),
            stop: watch::Sender::new(false),
            stopped: watch::Sender::new(false),
            config,
        });
        let driver = Driver::new(url, Box::new(tokens), shared.clone(), cmd_rx, events_tx, backoff);
        tokio::spawn(driver.run(entries));
        Ok((Client { shared, cmd: cmd_tx }, Events { rx: events_rx }))
    }

    /// The connection's current state.
    pub fn connection_state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// A receiver of connection states, for waiting on a change.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// The current quality and smoothed round trip.
    pub fn quality(&self) -> QualityReport {
        *self.shared.quality.borrow()
    }

    /// The authenticated user, once connected.
    pub fn user(&self) -> Option<UserInfo> {
        lock(&self.shared.session).as_ref().map(|s| s.user.clone())
    }

    /// Cached messages of a conversation, in `seq` order.
    pub fn cached_messages(&self, conversation_id: &ConversationId) -> Vec<Message> {
        lock(&self.shared.cache).messages(conversation_id)
    }

    /// The highest gapless `seq` this device holds for a conversation.
    pub fn position(&self, conversation_id: &ConversationId) -> Option<Seq> {
        lock(&self.shared.cache).position(conversation_id)
    }

    /// Sizes and counters of the local history cache.
    pub fn cache_stats(&self) -> CacheStats {
        lock(&self.shared.cache).stats()
    }

    /// The cache (positions, cursor, messages) as JSON.
    pub fn export_cache(&self) -> String {
        lock(&self.shared.cache).export_json()
    }

    /// Replace the cache with an export. Takes effect for the next resume; positions only move
    /// forward in the state file.
    pub fn import_cache(&self, json: &str) -> Result<(), CacheError> {
        let cache = HistoryCache::import_json(self.shared.config.cache.clone(), json)?;
        *lock(&self.shared.cache) = cache;
        Ok(())
    }

    /// Connect now: leaves the offline state (open breaker, or a close that said not to
    /// reconnect) and restarts the backoff.
    pub async fn reconnect(&self) -> Result<(), SendError> {
        self.tell(Command::Reconnect, &self.shared.reconnect)
    }

    /// Close the connection (code 1000) and stop the driver. The outbox stays in the state file.
    pub async fn close(&self) {
        self.shared.stop.send_replace(true);
        let mut stopped = self.shared.stopped.subscribe();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            // The driver is gone already.
            _ = self.cmd.closed() => {}
        }
    }

    /// Give the driver a command without waiting for room. A full channel loses nothing:
    /// `flag` is raised instead, and the driver's housekeeping does from it what the command
    /// would have done (reload the outbox file, reconnect).
    fn tell(&self, cmd: Command, flag: &AtomicBool) -> Result<(), SendError> {
        match self.cmd.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                flag.store(true, Ordering::Release);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }
}

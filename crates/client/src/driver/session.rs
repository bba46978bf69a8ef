//! One open connection: a loop that waits on the socket, the handles, the timers and `close`
//! at once, and writes what the step queued before it waits again, so replies, pings and
//! outbox entries never wait for the next frame to arrive.

use std::time::Duration;

use futures_util::{Sink, SinkExt, StreamExt};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

use super::connection::{End, Ws, closed};
use super::{Driver, HOUSEKEEPING, stopped};
use crate::events::{ConnectionState, Event};
use crate::quality::{Quality, QualityReport};

impl Driver {
    pub(super) async fn session(&mut self, ws: Ws) -> End {
        self.authed = true;
        self.set_state(ConnectionState::Connected).await;
        self.latency.reset();
        self.update_quality(QualityReport { quality: Quality::Excellent, rtt: None }).await;
        let (mut sink, mut stream) = ws.split();
        let every = self.shared.config.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Err(e) = self.write(&mut sink).await {
            return End::Lost(e.to_string());
        }
        loop {
            let refresh_at = self.refresh.due();
            let mut stop = self.stop.clone();
            let end = tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(WsMessage::Text(t))) => self.on_frame(t.as_str()).await,
                    Some(Ok(WsMessage::Close(f))) => Some(closed(f)),
                    Some(Ok(WsMessage::Binary(_))) => {
                        self.emit(Event::Error("the server sent a binary frame; ignored".into())).await;
                        None
                    }
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some(End::Lost(e.to_string())),
                    None => Some(End::Lost("the connection closed".into())),
                },
                cmd = self.cmd_rx.recv() => match cmd {
                    None => Some(End::Stop),
                    Some(cmd) => self.on_command(cmd, true).await,
                },
                _ = tokio::time::sleep_until(refresh_at), if self.refresh.is_scheduled() => {
                    self.refresh.start(self.tokens.token(true));
                    None
                }
                token = self.refresh.fetched(), if self.refresh.is_fetching() => {
                    self.refreshed(token).await;
                    None
                }
                _ = ping.tick() => self.ping().await,
                _ = housekeeping.tick() => {
                    self.housekeeping().await;
                    None
                }
                _ = stopped(&mut stop) => Some(End::Stop),
            };
            if let Some(end) = end {
                if matches!(end, End::Stop | End::Reconnect) {
                    let frame = CloseFrame { code: WsCloseCode::Normal, reason: "".into() };
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        sink.send(WsMessage::Close(Some(frame))),
                    )
                    .await;
                }
                return end;
            }
            if let Err(e) = self.write(&mut sink).await {
                return End::Lost(e.to_string());
            }
        }
    }

    /// Write queued frames, then outbox entries within the in-flight window and the rate.
    async fn write<S>(&mut self, sink: &mut S) -> Result<(), tokio_tungstenite::tungstenite::Error>
    where
        S: Sink<WsMessage, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        let mut wrote = false;
        self.rate.refill();
        while let Some(text) = self.out.pop_front() {
            self.rate.spend();
            sink.feed(WsMessage::text(text)).await?;
            wrote = true;
        }
        let room = self.replay.room(self.shared.config.max_in_flight);
        let budget = room.min(self.rate.available());
        if !self.replay.paused() && budget > 0 {
            for (key, text) in self.replay.unsent(budget) {
                self.rate.spend();
                sink.feed(WsMessage::text(text)).await?;
                self.replay.sent(key);
                wrote = true;
            }
        }
        if wrote {
            sink.flush().await?;
        }
        Ok(())
    }

    async fn housekeeping(&mut self) {
        self.reload().await;
        self.send_receipts();
        self.save_positions(false);
        self.expire().await;
    }
}

//! Commands applied: one handler per [`chinwag_proto::commands`] type, whatever transport
//! carried it.
//!
//! A transport parses a request into its command type (a WebSocket frame decodes into one, a
//! REST route builds one from path and body with the `into_command` conversions in
//! `chinwag_proto::rest`), then applies it with [`Command::apply`]. The output is the command's
//! result as the REST response carries it; [`Command::reply`] turns it into the WebSocket reply.
//! [`answer`] is the WebSocket session's whole request mapping.

use std::future::Future;

use chinwag_proto::clock::now_millis;
use chinwag_proto::commands::{
    Authenticate, DeleteMessage, EditMessage, GetHistory, MarkRead, MarkReceived, Ping,
    QueryPresence, ReactToMessage, SaveDraft, SendMessage, SetTyping,
};
use chinwag_proto::frames::{DraftState, Request, ResumeRequest, ServerFrame};
use chinwag_proto::ids::{ConversationId, Millis, RequestId};
use chinwag_proto::rest::{
    AmendResponse, MessagePage, PresenceResponse, ReadResponse, SendResponse, Watermarks,
};
use chinwag_store::{Amended, Change, Receipt};

use crate::auth::Principal;
use crate::error::ServiceResult;
use crate::services::Services;

/// A request that one handler applies for every transport.
pub trait Command: Sized + Send {
    /// The result, as the REST response carries it.
    type Output: Send;

    /// Authorize and apply the command for `who`.
    fn apply(
        self,
        services: &Services,
        who: &Principal,
    ) -> impl Future<Output = ServiceResult<Self::Output>> + Send;

    /// The WebSocket reply to the request with id `id`.
    fn reply(id: Option<RequestId>, output: Self::Output) -> ServerFrame;
}

/// What a WebSocket request comes to.
// Consumed by one `match` right after it is made: boxing the reply would cost an allocation per
// request to save stack space for a moment.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Answer {
    /// The reply to write (a result or a typed error).
    Reply(ServerFrame),
    /// A request about the connection itself, which the transport handles: a token refresh.
    Refresh(Authenticate),
    /// A resume, which the transport replays onto its socket.
    Resume(ResumeRequest),
}

/// Apply a WebSocket request: every command but the connection's own requests.
pub async fn answer(
    services: &Services,
    who: &Principal,
    id: Option<RequestId>,
    request: Request,
) -> Answer {
    match request {
        Request::Auth(auth) => Answer::Refresh(auth),
        Request::Resume(resume) => Answer::Resume(resume),
        Request::Send(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Edit(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Delete(c) => Answer::Reply(run(services, who, id, c).await),
        Request::React(c) => Answer::Reply(run(services, who, id, c).await),
        Request::History(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Read(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Received(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Typing(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Draft(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Presence(c) => Answer::Reply(run(services, who, id, c).await),
        Request::Ping(c) => Answer::Reply(run(services, who, id, c).await),
    }
}

/// Apply `command` and reply with its result or its typed error.
async fn run<C: Command>(
    services: &Services,
    who: &Principal,
    id: Option<RequestId>,
    command: C,
) -> ServerFrame {
    match command.apply(services, who).await {
        Ok(output) => C::reply(id, output),
        Err(e) => ServerFrame::Error { id, error: e.to_body() },
    }
}

impl Command for SendMessage {
    type Output = SendResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<SendResponse> {
        ServerSend::apply_as(self, services, who, false).await
    }

    fn reply(id: Option<RequestId>, out: SendResponse) -> ServerFrame {
        ServerFrame::Ack { id, message: out.message, duplicate: out.duplicate }
    }
}

/// A send by the app's backend (server API), which may use kinds reserved for the server such as
/// `system`.
#[derive(Debug)]
pub struct ServerSend(pub SendMessage);

impl Command for ServerSend {
    type Output = SendResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<SendResponse> {
        Self::apply_as(self.0, services, who, true).await
    }

    fn reply(id: Option<RequestId>, out: SendResponse) -> ServerFrame {
        SendMessage::reply(id, out)
    }
}

impl ServerSend {
    async fn apply_as(
        message: SendMessage,
        services: &Services,
        who: &Principal,
        trusted: bool,
    ) -> ServiceResult<SendResponse> {
        let a = services.send_as(who, message, trusted).await?;
        Ok(SendResponse { message: a.message, duplicate: a.duplicate })
    }
}

fn amended(a: Amended) -> AmendResponse {
    AmendResponse { target: a.target, event: a.event, duplicate: a.duplicate }
}

fn amended_reply(id: Option<RequestId>, out: AmendResponse) -> ServerFrame {
    ServerFrame::Amended { id, target: out.target, event: out.event, duplicate: out.duplicate }
}

impl Command for EditMessage {
    type Output = AmendResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<AmendResponse> {
        let change = Change::Edit { body: self.body };
        let a = services.amend(who, &self.conversation_id, self.seq, self.client_msg_id, change);
        Ok(amended(a.await?))
    }

    fn reply(id: Option<RequestId>, out: AmendResponse) -> ServerFrame {
        amended_reply(id, out)
    }
}

impl Command for DeleteMessage {
    type Output = AmendResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<AmendResponse> {
        let change = Change::Delete;
        let a = services.amend(who, &self.conversation_id, self.seq, self.client_msg_id, change);
        Ok(amended(a.await?))
    }

    fn reply(id: Option<RequestId>, out: AmendResponse) -> ServerFrame {
        amended_reply(id, out)
    }
}

impl Command for ReactToMessage {
    type Output = AmendResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<AmendResponse> {
        let change = Change::React { emoji: self.emoji, add: self.add };
        let a = services.amend(who, &self.conversation_id, self.seq, self.client_msg_id, change);
        Ok(amended(a.await?))
    }

    fn reply(id: Option<RequestId>, out: AmendResponse) -> ServerFrame {
        amended_reply(id, out)
    }
}

impl Command for GetHistory {
    type Output = MessagePage;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<MessagePage> {
        let GetHistory { conversation_id, before, after, limit } = self;
        let page = services.history(who, &conversation_id, before, after, limit).await?;
        Ok(MessagePage { conversation_id, messages: page.messages, has_more: page.has_more })
    }

    fn reply(id: Option<RequestId>, out: MessagePage) -> ServerFrame {
        let MessagePage { conversation_id, messages, has_more } = out;
        ServerFrame::History { id, conversation_id, messages, has_more }
    }
}

impl Command for MarkRead {
    type Output = ReadResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<ReadResponse> {
        let (read_seq, unread) = services.mark_read(who, &self.conversation_id, self.seq).await?;
        Ok(ReadResponse { read_seq, unread })
    }

    fn reply(id: Option<RequestId>, _: ReadResponse) -> ServerFrame {
        ServerFrame::Ok { id }
    }
}

impl Command for MarkReceived {
    type Output = Watermarks;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<Watermarks> {
        let w = services.receipt(who, &self.conversation_id, Receipt::Delivered, self.seq).await?;
        Ok(Watermarks {
            delivered_seq: w.delivered_seq,
            read_seq: w.read_seq,
            last_seq: w.last_seq,
        })
    }

    fn reply(id: Option<RequestId>, _: Watermarks) -> ServerFrame {
        ServerFrame::Ok { id }
    }
}

impl Command for SetTyping {
    type Output = ();

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<()> {
        services.typing(who, &self.conversation_id, self.typing).await
    }

    fn reply(id: Option<RequestId>, (): ()) -> ServerFrame {
        ServerFrame::Ok { id }
    }
}

/// A saved draft and the conversation it belongs to (the WebSocket reply names it).
#[derive(Debug)]
pub struct SavedDraft {
    pub conversation_id: ConversationId,
    pub draft: DraftState,
}

impl Command for SaveDraft {
    type Output = SavedDraft;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<SavedDraft> {
        let SaveDraft { conversation_id, version, body } = self;
        let draft = services.save_draft(who, &conversation_id, version, body).await?;
        Ok(SavedDraft { conversation_id, draft })
    }

    fn reply(id: Option<RequestId>, out: SavedDraft) -> ServerFrame {
        ServerFrame::DraftSaved { id, conversation_id: out.conversation_id, draft: out.draft }
    }
}

impl Command for QueryPresence {
    type Output = PresenceResponse;

    async fn apply(self, services: &Services, who: &Principal) -> ServiceResult<PresenceResponse> {
        Ok(PresenceResponse { users: services.presence_of(who, &self.users).await? })
    }

    fn reply(id: Option<RequestId>, out: PresenceResponse) -> ServerFrame {
        ServerFrame::PresenceState { id, users: out.users }
    }
}

/// The answer to a ping: the client's timestamp back, and the server's clock.
#[derive(Debug)]
pub struct Pong {
    pub ts: Option<Millis>,
    pub server_ts: Millis,
}

impl Command for Ping {
    type Output = Pong;

    async fn apply(self, _: &Services, _: &Principal) -> ServiceResult<Pong> {
        Ok(Pong { ts: self.ts, server_ts: now_millis() })
    }

    fn reply(id: Option<RequestId>, out: Pong) -> ServerFrame {
        ServerFrame::Pong { id, ts: out.ts, server_ts: out.server_ts }
    }
}

impl Services {
    /// Apply one command for `who` (REST routes and the server API call this).
    pub async fn apply<C: Command>(&self, who: &Principal, command: C) -> ServiceResult<C::Output> {
        command.apply(self, who).await
    }
}

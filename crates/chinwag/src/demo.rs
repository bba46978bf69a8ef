//! `serve --demo`: users and conversations so that a newcomer can chat at once.

use std::net::SocketAddr;

use chinwag_core::Node;
use chinwag_core::auth::Principal;
use chinwag_proto::commands::SendMessage;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::ids::TenantId;
use chinwag_proto::model::ConversationKind;
use chinwag_proto::rest::CreateConversationRequest;

pub const PASSWORD: &str = "chinwag-demo";
const USERS: &[(&str, &str)] = &[("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")];

/// Idempotent: running it again on the same data directory changes nothing.
pub async fn seed(node: &Node, listen: SocketAddr) -> anyhow::Result<()> {
    let services = &node.services;
    for (user, name) in USERS {
        match services.register(user, PASSWORD, Some(name)).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::Conflict => {}
            Err(e) => return Err(anyhow::anyhow!("registering {user}: {e}")),
        }
    }
    let as_user = |u: &str| Principal {
        tenant: TenantId::default_tenant(),
        user: u.into(),
        name: None,
        expires_at: None,
    };
    let alice = as_user("alice");
    let (direct, created) = services
        .create_conversation(
            &alice,
            CreateConversationRequest {
                kind: ConversationKind::Direct,
                members: vec!["bob".into()],
                subject: Some("demo".into()),
                title: None,
            },
        )
        .await?;
    if created {
        let (group, _) = services
            .create_conversation(
                &alice,
                CreateConversationRequest {
                    kind: ConversationKind::Group,
                    members: vec!["bob".into(), "carol".into()],
                    subject: None,
                    title: Some("Welcome to Chinwag".into()),
                },
            )
            .await?;
        for (who, conversation, text) in [
            ("alice", &group.id, "Hi all! This group was made by `chinwag serve --demo`."),
            ("bob", &group.id, "Hello! Open two terminals and chat as alice and bob."),
            ("alice", &direct.id, "Bob, this is our direct conversation."),
        ] {
            services
                .send(
                    &as_user(who),
                    SendMessage {
                        conversation_id: conversation.clone(),
                        client_msg_id: format!("demo-{}", ulid::Ulid::new()).as_str().into(),
                        kind: None,
                        body: text.into(),
                        payload: None,
                        reply_to: None,
                    },
                )
                .await?;
        }
    }
    println!("demo users: alice, bob, carol (password: {PASSWORD})");
    println!(
        "web app: open http://{listen}/ and sign in as alice; in a second window (a private one, \
         or another browser) as bob"
    );
    println!(
        "log in:  curl -s -X POST http://{listen}/v1/accounts/login -H 'content-type: application/json' \\"
    );
    println!("           -d '{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}'");
    println!(
        "then open ws://{listen}/v1/ws and send {{\"type\":\"auth\",\"token\":\"<token>\",\"resume\":{{\"since\":0}}}}"
    );
    Ok(())
}

//! Delivery to every device of every member, in one order (G3), over real sockets.

use chinwag_testkit::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_three_devices_get_every_message_in_order() {
    let server = TestServer::start().await;
    let conv = server.group("alice", &["bob"]).await;
    let mut a1 = server.connect("alice").await;
    let mut a2 = server.connect("alice").await;
    let mut b1 = server.connect("bob").await;

    for i in 0..30 {
        let (sender, who) = if i % 3 == 0 {
            (&mut b1, "b")
        } else if i % 3 == 1 {
            (&mut a1, "a1")
        } else {
            (&mut a2, "a2")
        };
        let ack = sender.send_msg(&conv, &format!("{who}-{i}"), &format!("hello {i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["message"]["seq"], json!(i + 1));
        assert_eq!(ack["duplicate"], json!(false));
    }
    for device in [&mut a1, &mut a2, &mut b1] {
        let got = device.messages(30).await;
        let seqs: Vec<u64> = got.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "every device sees 1..30 in order");
        assert_eq!(got[4]["body"], "hello 4");
    }
    // A non-member connected at the same time got none of it.
    let mut carol = server.connect("carol").await;
    let ping = carol.request(json!({"type": "ping", "ts": 5})).await;
    assert_eq!(ping["type"], "pong");
    assert_eq!(ping["ts"], 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_get_gapless_seq_and_every_device_one_order() {
    let server = TestServer::start_with(|c| {
        c.limits.requests_per_second = 10_000;
        c.limits.user_requests_per_second = 10_000;
    })
    .await;
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let others: Vec<&str> = users[1..].iter().map(String::as_str).collect();
    let conv = server.group(&users[0], &others).await;
    let mut watchers =
        vec![server.connect("u0").await, server.connect("u5").await, server.connect("u19").await];

    const PER_SENDER: usize = 25;
    let mut tasks = Vec::new();
    for u in users.clone() {
        let mut c = server.connect(&u).await;
        let conv = conv.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..PER_SENDER {
                let ack = c.send_msg(&conv, &format!("{u}-{i}"), "x").await;
                assert_eq!(ack["type"], "ack", "{ack}");
                seqs.push(ack["message"]["seq"].as_u64().unwrap());
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let seqs = t.await.unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "one sender's messages keep their order");
        all.extend(seqs);
    }
    all.sort_unstable();
    let n = users.len() * PER_SENDER;
    assert_eq!(all, (1..=n as u64).collect::<Vec<_>>(), "seq is 1..N with no gap and no repeat");

    let mut orders = Vec::new();
    for w in &mut watchers {
        let got = w.messages(n).await;
        let order: Vec<(u64, String)> = got
            .iter()
            .map(|m| (m["seq"].as_u64().unwrap(), m["id"].as_str().unwrap().to_owned()))
            .collect();
        assert!(order.windows(2).all(|p| p[1].0 == p[0].0 + 1), "delivered in seq order");
        orders.push(order);
    }
    assert!(orders.windows(2).all(|o| o[0] == o[1]), "every device sees the same order");
    server.stop().await;
}

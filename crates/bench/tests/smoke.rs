//! Tiny runs of every Chinwag scenario against a real in-process Chinwag server: the
//! generator's whole path (tokens, REST set-up, upgrade, auth, send, events, acks) works end to
//! end. Timings are not checked here; the benchmark proves those (docs/benchmarks.md).

use chinwag_bench::scenario::{durable, fanout};
use chinwag_bench::setup::Common;
use chinwag_bench::target::Target;
use chinwag_testkit::{TOKEN_SECRET, TestServer, high_request_limits};

fn common(addr: std::net::SocketAddr) -> Common {
    Common {
        target: Target::Chinwag,
        addr,
        server_pid: Some(std::process::id()),
        sources: 4,
        connect_concurrency: 50,
        token_secret: TOKEN_SECRET.into(),
        label: Some("smoke".into()),
        skip_opening: false,
        more_addrs: Vec::new(),
        more_pids: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_fanout_and_durable_run_deliver_everything() {
    let server = TestServer::start_with(high_request_limits).await;
    let addr = server.addr;

    let args = fanout::FanoutArgs {
        common: common(addr),
        members: 20,
        rates: vec![50.0, 100.0],
        step_secs: 1.0,
        publishers: 2,
        payload: 64,
        drain_secs: 3.0,
        stop_below_pct: 0.0,
        settle_secs: 0.1,
    };
    let r =
        tokio::task::spawn_blocking(move || fanout::run(args)).await.unwrap().expect("fanout runs");
    let steps = r["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{r}");
    for s in steps {
        let sent = s["sent"].as_u64().unwrap();
        assert!(sent >= 45, "{s}");
        assert_eq!(
            s["delivered"].as_u64().unwrap(),
            sent * 20,
            "every member gets every message: {s}"
        );
        assert!(s["latency"]["p50_us"].as_u64().unwrap() > 0, "{s}");
        assert!(s["server_cpu_secs"].as_f64().is_some(), "{s}");
    }
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["seq_gaps"], 0, "{r}");
    assert_eq!(r["seq_dups"], 0, "{r}");
    assert_eq!(
        r["acks"].as_u64().unwrap(),
        steps.iter().map(|s| s["sent"].as_u64().unwrap()).sum::<u64>()
    );

    let args = durable::DurableArgs {
        common: common(addr),
        senders: 8,
        window: 2,
        conversations: 0,
        payload: 64,
        warmup_secs: 0.3,
        secs: 1.0,
    };
    let r = tokio::task::spawn_blocking(move || durable::run(args))
        .await
        .unwrap()
        .expect("durable runs");
    assert!(r["acks"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_slow_storm_and_chat_runs_lose_nothing() {
    use chinwag_bench::scenario::{chat, slow, storm, two_rooms};
    let server = TestServer::start_with(high_request_limits).await;
    let addr = server.addr;

    let args = slow::SlowArgs {
        common: common(addr),
        members: 20,
        rate: 50.0,
        publishers: 2,
        payload: 64,
        slow_pct: 10.0,
        baseline_secs: 0.5,
        slow_secs: 1.0,
        drain_secs: 3.0,
        recover_secs: 5.0,
        sample_ms: 100,
        end_after_cut_secs: 5.0,
    };
    let r = tokio::task::spawn_blocking(move || slow::run(args)).await.unwrap().expect("slow runs");
    assert_eq!(r["slow_members"], 2, "{r}");
    assert_eq!(r["baseline"]["delivered_pct"], 100.0, "{r}");
    assert_eq!(r["with_slow"]["delivered_pct"], 100.0, "{r}");
    assert_eq!(r["recovery"]["all_recovered"], true, "{r}");
    assert_eq!(r["recovery"]["missing"], 0, "{r}");
    assert_eq!(r["recovery"]["dups"], 0, "{r}");
    assert!(!r["server_rss"]["samples"].as_array().unwrap().is_empty(), "{r}");

    let args = storm::StormArgs {
        common: common(addr),
        layout: two_rooms::LayoutArgs { connections: 60, group_size: 10 },
        window_secs: 0.2,
        missed: 2,
        limit_secs: 20.0,
        create_concurrency: 8,
    };
    let r =
        tokio::task::spawn_blocking(move || storm::run(args)).await.unwrap().expect("storm runs");
    assert_eq!(r["all_live"], true, "{r}");
    // 12 rooms × 2 missed messages, each replayed to its 10 members.
    assert_eq!(r["replay_expected"], 240, "{r}");
    assert_eq!(r["replayed"], 240, "{r}");
    assert_eq!(r["replay_gaps"], 0, "{r}");
    assert_eq!(r["replay_dups"], 0, "{r}");

    let args = chat::ChatArgs {
        common: common(addr),
        users: 40,
        group_size: 10,
        rate: 100.0,
        group_share: 0.8,
        churn_pct: 20.0,
        payload: 64,
        warmup_secs: 0.5,
        secs: 2.0,
        drain_secs: 5.0,
        create_concurrency: 8,
    };
    let r = tokio::task::spawn_blocking(move || chat::run(args)).await.unwrap().expect("chat runs");
    assert!(r["sent"].as_u64().unwrap() > 50, "{r}");
    assert!(r["reconnects"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["delivered"], r["expected"], "{r}");
    assert_eq!(r["gaps"], 0, "{r}");
    assert_eq!(r["dups"], 0, "{r}");
    assert_eq!(r["behind_after_drain"], 0, "{r}");
    assert_eq!(r["errors"], 0, "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fanout_over_two_nodes_of_a_cluster_delivers_everything_across_them() {
    if !chinwag_testkit::cluster_available() {
        return;
    }
    let schema = chinwag_store::conformance::postgres::TestSchema::new();
    let prefix = format!("chinwag-test-{:016x}:", rand::random::<u64>());
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestServer::cluster_config(dir.path(), &schema, &prefix);
        config.auth.token_secret = TOKEN_SECRET.into();
        high_request_limits(&mut config);
        nodes.push(TestServer::start_config(config).await);
        dirs.push(dir);
    }
    let mut c = common(nodes[0].addr);
    c.more_addrs = vec![nodes[1].addr];
    let args = fanout::FanoutArgs {
        common: c,
        members: 20,
        rates: vec![50.0],
        step_secs: 1.0,
        publishers: 2,
        payload: 64,
        drain_secs: 3.0,
        stop_below_pct: 0.0,
        settle_secs: 0.1,
    };
    let r =
        tokio::task::spawn_blocking(move || fanout::run(args)).await.unwrap().expect("fanout runs");
    let step = &r["steps"][0];
    let sent = step["sent"].as_u64().unwrap();
    assert!(sent >= 45, "{step}");
    assert_eq!(step["delivered"].as_u64().unwrap(), sent * 20, "members on both nodes: {step}");
    assert_eq!((r["errors"].as_u64(), r["seq_gaps"].as_u64()), (Some(0), Some(0)), "{r}");
    for node in nodes {
        node.stop().await;
    }
}

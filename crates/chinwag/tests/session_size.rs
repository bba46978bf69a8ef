//! Every connection keeps its session future alive for as long as it is open, so its size is
//! idle memory per connection (docs/benchmarks.md, "idle"). The opening (authentication,
//! registration, resume) and the rare paths (request handling, closing) are boxed so that they
//! cost memory only while they run; this guards that against regressions. Not a timing test: the size is fixed at compile time.

const BUDGET: usize = 1536;

#[tokio::test]
async fn an_idle_session_keeps_a_small_future() {
    let server = chinwag_testkit::TestServer::start().await;
    let (socket, _peer) = tokio::io::duplex(64);
    let ws = chinwag_ws::WebSocket::new(socket, chinwag_ws::Config::default());
    let session = chinwag_core::session::run(server.node.clone(), ws, None);
    let size = std::mem::size_of_val(&session);
    eprintln!("session future: {size} bytes");
    assert!(size <= BUDGET, "the session future grew to {size} bytes (budget {BUDGET})");
    drop(session);
    server.stop().await;
}

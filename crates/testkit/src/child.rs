//! The real `chinwag` binary as a child process, for tests that kill it with SIGKILL.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::server::{API_KEY, TOKEN_SECRET};

pub struct ChildServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ChildServer {
    /// Start `binary serve` on `data_dir` at a free port and wait until `/readyz` answers.
    pub async fn start(binary: &Path, data_dir: &Path) -> Self {
        Self::start_env(binary, data_dir, &[]).await
    }

    /// [`ChildServer::start`] with more environment (`CHINWAG_*` settings), which wins over the
    /// defaults set here.
    pub async fn start_env(binary: &Path, data_dir: &Path, env: &[(String, String)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        Self::start_at(binary, data_dir, env, addr).await
    }

    /// [`ChildServer::start_env`] on a given address (a node restarted where it was).
    pub async fn start_at(
        binary: &Path,
        data_dir: &Path,
        env: &[(String, String)],
        addr: SocketAddr,
    ) -> Self {
        let child = Command::new(binary)
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(data_dir)
            .env("CHINWAG_AUTH__TOKEN_SECRET", TOKEN_SECRET)
            .env("CHINWAG_AUTH__API_KEYS", format!("[{{key=\"{API_KEY}\"}}]"))
            .env("CHINWAG_LOG", "warn")
            .env("CHINWAG_LIMITS__REQUESTS_PER_SECOND", "100000")
            .env("CHINWAG_LIMITS__USER_REQUESTS_PER_SECOND", "100000")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn chinwag");
        let s = Self { child, addr };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
                && r.status().is_success()
            {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chinwag did not become ready at {addr}");
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().expect("wait")
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

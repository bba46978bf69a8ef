//! `chinwag chat --line` as a child process: write commands to its stdin, wait for its event
//! lines on stdout.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// A running `chinwag chat --line`. Killed when dropped.
pub struct ChatProcess {
    pub child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
}

impl ChatProcess {
    /// Start `binary chat --line` with `args` and `env`.
    pub fn spawn(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(["chat", "--line"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn chinwag chat");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, stdin, lines, seen: Vec::new() }
    }

    /// Start `binary chat --line` against `server` as `user`, who signs in with `password` (passed
    /// as `CHINWAG_PASSWORD`), keeping the client's state in `state`; `more` are further
    /// arguments (`--conversation ID`, ...).
    pub fn sign_in(
        binary: &str,
        server: &str,
        user: &str,
        password: &str,
        state: &Path,
        more: &[&str],
    ) -> Self {
        let state = state.to_str().expect("state path is UTF-8");
        let mut args = vec!["--server", server, "--user", user, "--state", state];
        args.extend_from_slice(more);
        Self::spawn(binary, &args, &[("CHINWAG_PASSWORD", password)])
    }

    /// Type `/quit` and wait up to ten seconds for the process to end: `Err` if it did not, else
    /// its exit status.
    pub async fn quit(
        &mut self,
    ) -> Result<std::io::Result<ExitStatus>, tokio::time::error::Elapsed> {
        self.say("/quit").await;
        tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await
    }

    /// Write one line to the chat's stdin.
    pub async fn say(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.expect("write to chat");
        self.stdin.flush().await.expect("flush chat stdin");
    }

    /// Read lines until one satisfies `done`; returns the lines read by this call. Panics with
    /// everything seen when the chat ends or `wait` passes first.
    pub async fn until(
        &mut self,
        wait: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Vec<String> {
        let mut read = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(line))) => {
                    self.seen.push(line.clone());
                    let stop = done(&line);
                    read.push(line);
                    if stop {
                        return read;
                    }
                }
                other => panic!("chat ended or timed out ({other:?}); lines: {:#?}", self.seen),
            }
        }
    }

    /// Read lines until one equals `line` or starts with it.
    pub async fn expect(&mut self, line: &str) -> String {
        let found = self.until(crate::WAIT, |l| l.starts_with(line)).await;
        found.last().cloned().unwrap_or_default()
    }
}

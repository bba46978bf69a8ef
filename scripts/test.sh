#!/usr/bin/env bash
# The whole test suite: every crate's unit and integration tests (real servers on ephemeral
# ports, real WebSocket clients, the real binary killed with SIGKILL), the storage conformance
# suite, the Autobahn WebSocket conformance cases against `chinwag serve --enable-echo`, and the
# JavaScript SDK and web app against the real binary (scripts/web-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (workspace, all features)"
cargo test --workspace --all-features --locked

echo "== Autobahn WebSocket conformance against chinwag serve"
cargo build --locked -p chinwag
binary="${CARGO_TARGET_DIR:-target}/debug/chinwag"
data_dir="$(mktemp -d)"
trap 'rm -rf "$data_dir"' EXIT
port="${AUTOBAHN_PORT:-9301}"
bash scripts/autobahn.sh --port "$port" --url "ws://127.0.0.1:$port/v1/echo" -- \
  bash -c "exec '$binary' serve --enable-echo --listen 127.0.0.1:\$AUTOBAHN_PORT --data-dir '$data_dir' --log warn"

echo "== JavaScript SDK and web app (Node, headless Chromium) against chinwag serve"
TEST_CHINWAG_BINARY="$(realpath "$binary")" bash scripts/web-test.sh

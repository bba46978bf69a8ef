#!/usr/bin/env bash
# Install the peer servers from the package registries. Nothing is vendored.
#  - Node peers: npm packages into bench/peers/node_modules (exact versions, pinned by
#    package-lock.json).
#  - socketioxide peer: a separate cargo project under bench/peers/socketioxide (crates from
#    crates.io, pinned by its own Cargo.lock), built into its own target directory.
# Usage: bench/install-peers.sh [node|socketioxide]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/peers"
what=("$@")
[ ${#what[@]} -eq 0 ] && what=(node socketioxide)
for w in "${what[@]}"; do
  case "$w" in
    node)
      command -v node >/dev/null || { echo "node is required (Node 20: the uWebSockets.js binary is built for it)" >&2; exit 1; }
      npm ci --no-audit --no-fund
      node -e 'require("@trufflesuite/uws-js-unofficial"); require("ws"); require("socket.io"); console.log("node peers installed, node", process.version)' ;;
    socketioxide)
      command -v cargo >/dev/null || { echo "cargo is required for the socketioxide peer" >&2; exit 1; }
      (cd socketioxide && CARGO_TARGET_DIR="$(pwd)/target" cargo build --release --locked)
      echo "socketioxide peer built: bench/peers/socketioxide/target/release/chinwag-bench-peer-socketioxide" ;;
    *) echo "unknown peer group $w (node, socketioxide)" >&2; exit 2 ;;
  esac
done

#!/usr/bin/env bash
# Install the peer servers' packages from the npm registry into bench/peers/node_modules
# (exact versions, pinned by package-lock.json). Nothing is vendored.
set -euo pipefail
cd "$(dirname "$0")/peers"
command -v node >/dev/null || { echo "node is required (Node 20: the uWebSockets.js binary is built for it)" >&2; exit 1; }
npm ci --no-audit --no-fund
node -e 'require("@trufflesuite/uws-js-unofficial"); require("ws"); require("socket.io"); console.log("peers installed, node", process.version)'

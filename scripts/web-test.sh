#!/usr/bin/env bash
# The JavaScript side: type checks of the SDK, the web app and the tests (tsc --noEmit --checkJs),
# the SDK's declarations regenerated and compared with the committed chinwag.d.ts, the SDK unit
# tests and the SDK against the real server (node --test), then the web app end to end in headless
# Chromium (playwright-core). Needs `target/debug/chinwag` (built by scripts/test.sh), Node 20,
# the npm packages of web/ (`npm ci`) and /usr/bin/chromium (both installed by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/../web"

if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund
fi

echo "== tsc --noEmit --checkJs (SDK, app, tests)"
npx --no-install tsc -p tsconfig.json

echo "== SDK declarations are current"
npx --no-install tsc -p sdk/tsconfig.dts.json
diff -u sdk/chinwag.d.ts .dts/chinwag.d.ts

echo "== SDK: unit tests and tests against the real server (Node)"
timeout 300 node --test --test-reporter=spec test/*.test.js

echo "== Web app end to end (headless Chromium)"
timeout 600 node --test --test-reporter=spec --test-concurrency=1 e2e/*.test.js

#!/usr/bin/env bash
# The JavaScript side: type checks of the SDK, the web app and the tests (tsc --noEmit --checkJs),
# the declarations of every SDK module regenerated and compared with the committed ones
# (sdk/chinwag.d.ts, sdk/lib/*.d.ts; `npm run dts` writes them), the SDK unit
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

echo "== SDK declarations are current (every module)"
rm -rf .dts
npx --no-install tsc -p sdk/tsconfig.dts.json
# The same declaration files (none missing, none left over), each with the same text.
diff -u <(cd sdk && find . -name '*.d.ts' | sort) <(cd .dts && find . -name '*.d.ts' | sort)
for f in $(cd .dts && find . -name '*.d.ts' | sort); do
  diff -u "sdk/$f" ".dts/$f"
done
# They also check on their own (web/tsconfig.json skips declaration files): a name a module
# uses but its declarations do not import would otherwise become `any` without a word.
npx --no-install tsc --noEmit --strict --target ES2022 --module ES2022 --moduleResolution bundler \
  --lib ES2022,DOM .dts/chinwag.d.ts .dts/lib/*.d.ts

echo "== SDK: unit tests and tests against the real server (Node)"
timeout 300 node --test --test-reporter=spec test/*.test.js

echo "== Web app end to end (headless Chromium)"
timeout 600 node --test --test-reporter=spec --test-concurrency=1 e2e/*.test.js

#!/usr/bin/env bash
# Writes a PNG of each page of the demo to docs/img/ (the README shows them): a release build
# of the demo, then Playwright + Debian's Chromium against it, as the browser tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --test
cargo leptos build --release --features devtools-always
(cd end2end && npx playwright test --config screenshots.config.mjs)
ls -l docs/img/*.png

#!/usr/bin/env bash
# Sets up what is missing, then runs every test: unit, integration and doc tests of the library
# and the demo, a release build of the demo (server + hydrating wasm), and the browser tests in
# Chromium against that release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --test

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "library: unit, integration and doc tests (ssr + lean-streams + prometheus + redis + devtools)"
cargo test -p leptos_query_tags --features lean-streams,prometheus,redis,devtools

step "library: the server side without lean streams (ssr alone)"
cargo test -p leptos_query_tags --features ssr --tests --lib

step "library: builds for the browser (hydrate, wasm32)"
cargo check -p leptos_query_tags --features hydrate --target wasm32-unknown-unknown
cargo check -p leptos_query_tags --features hydrate,devtools --target wasm32-unknown-unknown

step "benchmark harnesses compile (they are run separately: docs/benchmarks.md)"
cargo check -p sse_bench --bins
cargo check -p leptos_query_tags --benches

step "demo: unit tests (ssr)"
cargo test -p query_tags_demo --features ssr --lib

step "demo: release build (cargo leptos build --release, devtools kept for their browser test)"
cargo leptos build --release --features devtools-always

step "browser tests (Playwright + Chromium against the release server)"
(cd end2end && npx playwright test)

step "all tests passed"

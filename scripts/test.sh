#!/usr/bin/env bash
# Sets up what is missing, then runs every test: unit, integration and doc tests of the library
# and the demo, a release build of the demo (server + hydrating wasm), and the browser tests in
# Chromium against that release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh --test

# Disk and link time: the suite builds the library, the demo and two examples in debug. Full
# debug info made target/ 17 GB on a clean clone and a CI linker died of a bus error (the disk
# ran out while ld wrote the examples' server). Line tables keep file:line in test backtraces at
# about a third of the size (the workspace's [profile.dev] says the same; the examples are
# workspaces of their own); a clean clone gains nothing from incremental caches (3 GB).
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-line-tables-only}"
if [ "${CI:-}" = true ]; then
  export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "library: unit, integration and doc tests (ssr + lean-streams + prometheus + redis + server-cache + devtools)"
cargo test -p leptos_query_tags --features lean-streams,prometheus,redis,server-cache,devtools

step "library: the server side compiled without lean streams (ssr alone): unit tests and the serving paths"
# The other integration tests ran above with every feature; these are the ones whose code paths
# differ when `lean-streams` is not compiled in (Serve, the stream response, the REST layer).
cargo test -p leptos_query_tags --features ssr --lib --test server_sse --test server_time_bounds --test server_rest

step "lints: clippy -D warnings (library and demo; server, hydrate and csr)"
cargo clippy -p leptos_query_tags --features lean-streams,prometheus,redis,server-cache,devtools --all-targets -- -D warnings
cargo clippy -p leptos_query_tags --features hydrate,devtools --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p leptos_query_tags --features csr,devtools --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p query_tags_demo --features ssr --all-targets -- -D warnings
cargo clippy -p query_tags_demo --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "library: every feature on its own builds (server features natively, browser ones for wasm32)"
cargo check -p leptos_query_tags --no-default-features
for feature in devtools devtools-always ssr lean-streams prometheus redis server-cache; do
  cargo check -p leptos_query_tags --no-default-features --features "$feature"
done
for feature in hydrate csr; do
  cargo check -p leptos_query_tags --no-default-features --features "$feature" --target wasm32-unknown-unknown
done
cargo check -p leptos_query_tags --features hydrate,devtools --target wasm32-unknown-unknown
# `Local` (non-`Send` query data) exists with `csr` only; its example compiles natively there.
cargo test -p leptos_query_tags --features csr --doc query::local

step "library: the package (what crates.io would get) and the API docs (-D warnings, missing_docs denied)"
# --allow-dirty: the checks are about the package's contents; CI's clone is clean anyway.
cargo package -p leptos_query_tags --allow-dirty
cargo publish --dry-run -p leptos_query_tags --allow-dirty
RUSTDOCFLAGS="-D warnings" cargo doc -p leptos_query_tags --no-deps --all-features

step "benchmark harnesses compile (they are run separately: docs/benchmarks.md)"
cargo build -p sse_bench --bins  # built, not checked: the JS client's tests run hub_server
cargo check -p leptos_query_tags --features server-cache --benches

step "the client runtime's browser side (crates/leptos_query_tags/js/runtime.js): Node's test runner, browser APIs faked"
# (A channel or timer left open would keep Node running after the tests: a hang fails here.)
timeout 120 node --test crates/leptos_query_tags/js/test/

step "JS client (clients/js): Node's test runner against a real hub (sse_bench's hub_server)"
cargo build -p sse_bench --bin hub_server
(cd clients/js && node --test test/)

step "demo: unit tests (ssr)"
cargo test -p query_tags_demo --features ssr --lib

step "demo: release build (cargo leptos build --release, devtools kept for their browser test)"
cargo leptos build --release --features devtools-always

step "browser tests (Playwright + Chromium against the release server)"
(cd end2end && npx playwright test)

step "examples/minimal: built as a new user builds it (its own workspace and Cargo.lock, this target/)"
# The examples link two more debug servers: if a link fails, this says whether the disk was full.
df -h . | tail -1
# cargo-leptos runs the wasm-bindgen-cli that setup installed for the root Cargo.lock.
wb_version() { awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$1"; }
for example in minimal spa; do
  if [ "$(wb_version Cargo.lock)" != "$(wb_version "examples/$example/Cargo.lock")" ]; then
    echo "examples/$example/Cargo.lock locks another wasm-bindgen than Cargo.lock: copy Cargo.lock there" >&2
    exit 1
  fi
done
# Not linted here: clippy would check every dependency again under the example's features
# (minutes on 2 cores for a few dozen lines; run it by hand when editing the example).
(cd examples/minimal && CARGO_TARGET_DIR="$PWD/../../target" cargo leptos build --cargo-locked)
(cd end2end && npx playwright test -c minimal.config.mjs)

step "examples/minimal copied out of the repository, on a git dependency of this commit (the README's way)"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
cp -r examples/minimal/Cargo.toml examples/minimal/Cargo.lock examples/minimal/src "$copy/"
repo="$PWD"
if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = false ]; then
  dependency="{ git = \"file://$repo\", rev = \"$(git rev-parse HEAD)\" }"
else # cargo cannot fetch from a shallow clone: a path dependency, the README's other way
  dependency="{ path = \"$repo/crates/leptos_query_tags\" }"
fi
sed -i "s|^leptos_query_tags = .*|leptos_query_tags = $dependency|" "$copy/Cargo.toml"
grep "^leptos_query_tags = " "$copy/Cargo.toml"
(cd "$copy" && CARGO_TARGET_DIR="$repo/target" cargo leptos build)
(cd end2end && E2E_MINIMAL_DIR="$copy" npx playwright test -c minimal.config.mjs)

step "examples/spa: a plain axum REST backend and a client-side-rendered (csr) Leptos app"
CARGO_TARGET_DIR="$PWD/target" CARGO_FLAGS=--locked examples/spa/build.sh
(cd end2end && npx playwright test -c spa.config.mjs)

step "all tests passed"

#!/usr/bin/env bash
# Builds the SPA: the browser app (wasm32, feature `csr`) into target/site (index.html and
# pkg/, by wasm-bindgen), and the REST backend (feature `server`). Then run the backend:
#   cargo run --features server      # serves http://127.0.0.1:3000 (SPA_ADDR to change it)
# Extra cargo flags (e.g. --locked, --release) go in CARGO_FLAGS.
set -euo pipefail
cd "$(dirname "$0")"
target="${CARGO_TARGET_DIR:-target}"
profile=debug
case " ${CARGO_FLAGS:-} " in *" --release "*) profile=release ;; esac

# shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
cargo build --lib --target wasm32-unknown-unknown --features csr ${CARGO_FLAGS:-}
mkdir -p target/site
wasm-bindgen --target web --no-typescript --out-dir target/site/pkg \
  "$target/wasm32-unknown-unknown/$profile/spa.wasm"
cp index.html target/site/index.html
# shellcheck disable=SC2086
cargo build --bin spa-server --features server ${CARGO_FLAGS:-}
echo "built: target/site (the app) and $target/$profile/spa-server (the backend)"

#!/usr/bin/env bash
# The library's wasm cost: builds crates/wasm_size (a minimal Leptos app with router, meta and
# one server function) without and with leptos_query_tags, runs wasm-bindgen and wasm-opt -Oz
# as a release build does, and prints raw / gzip / brotli sizes of both. Not part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh >/dev/null
# brotli (Debian's package) measures what a server sends; installed here, not by setup.sh,
# because only this script needs it.
if ! command -v brotli >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq brotli
fi
out=target/wasm-size/out
rm -rf "$out" && mkdir -p "$out"
# `devtools`: the library app with <QueryTagsDevtools/> (must cost nothing in release);
# `devtools-always`: the same with the panel kept.
for variant in minimal library devtools devtools-always; do
  features=hydrate
  [ "$variant" != minimal ] && features="hydrate,$variant"
  cargo build -q -p wasm_size --lib --target wasm32-unknown-unknown --profile wasm-release \
    --no-default-features --features "$features" --target-dir target/wasm-size
  wasm-bindgen --target web --no-typescript --out-dir "$out/$variant" --out-name app \
    target/wasm-size/wasm32-unknown-unknown/wasm-release/wasm_size.wasm
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    "$out/$variant/app_bg.wasm" -o "$out/$variant/app_bg.wasm"
  f="$out/$variant/app_bg.wasm"
  wasm=$(brotli -q 11 -c "$f" | wc -c)
  js=0
  while IFS= read -r -d '' script; do
    js=$((js + $(brotli -q 11 -c "$script" | wc -c)))
  done < <(find "$out/$variant" -name '*.js' -print0)
  printf '%-15s wasm raw %7d  gzip %7d  brotli %7d | js brotli %6d | wasm+js brotli %7d\n' \
    "$variant" "$(stat -c%s "$f")" "$(gzip -9 -c "$f" | wc -c)" "$wasm" "$js" "$((wasm + js))"
done

#!/usr/bin/env bash
# Sets up what is missing, then runs the demo.
#   scripts/demo.sh                  one instance with live reload (cargo leptos watch) at the
#                                    address printed below (Leptos.toml's site_addr)
#   scripts/demo.sh --instances N    a redis-server and N release instances of the demo on one
#                                    database and one Redis, at ports 3000, 3001, ...: a change
#                                    made through any of them shows live on pages of all of them
set -euo pipefail
cd "$(dirname "$0")/.."
instances=1
if [ "${1:-}" = "--instances" ]; then
  instances="${2:?usage: scripts/demo.sh [--instances N]}"
fi

if [ "$instances" -le 1 ]; then
  . scripts/setup.sh
  addr="$(awk -F'"' '/^site_addr/ { print $2; exit }' Leptos.toml)"
  echo
  echo "  Demo: http://${addr:-127.0.0.1:3000}   (first build takes a few minutes; Ctrl-C stops)"
  echo
  exec cargo leptos watch
fi

. scripts/setup.sh --test # redis-server comes with the test setup
cargo leptos build --release
data="$(mktemp -d)"
redis_port=6390
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT INT TERM
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$data" >/dev/null &
pids+=("$!")
echo
for i in $(seq 0 $((instances - 1))); do
  port=$((3000 + i))
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=query_tags_demo \
    LEPTOS_ENV=PROD DEMO_DATABASE_PATH="$data/todos.sqlite3" \
    QUERY_TAGS_REDIS_URL="redis://127.0.0.1:$redis_port/" \
    target/release/query_tags_demo &
  pids+=("$!")
  echo "  Instance $((i + 1)): http://127.0.0.1:$port"
done
echo "  (one Redis at 127.0.0.1:$redis_port, one database in $data; Ctrl-C stops them all)"
echo
wait

#!/usr/bin/env bash
# Sets up what is missing, then runs the demo with live reload at http://127.0.0.1:3000
# (the address printed below; change it in Leptos.toml and Cargo.toml's site-addr together).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
addr="$(awk -F'"' '/^site_addr/ { print $2; exit }' Leptos.toml)"
echo
echo "  Demo: http://${addr:-127.0.0.1:3000}   (first build takes a few minutes; Ctrl-C stops)"
echo
exec cargo leptos watch

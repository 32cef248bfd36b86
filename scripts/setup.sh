#!/usr/bin/env bash
# Installs what the demo and the tests need, skipping what is already there.
#   scripts/setup.sh          toolchain for the demo (wasm target, cargo-leptos, wasm-bindgen, wasm-opt)
#   scripts/setup.sh --test   the same, plus Chromium for the browser tests and redis-server
# Source it (`. scripts/setup.sh`) to also get wasm-opt on PATH in the calling shell.
# A first run on a fresh machine compiles cargo-leptos and wasm-bindgen-cli: ~20 minutes.

_qt_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_qt_say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

_qt_setup() {
  local want_test="$1"
  cd "$_qt_root" || return 1

  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    _qt_say "wasm32-unknown-unknown target: present"
  else
    _qt_say "wasm32-unknown-unknown target: installing"
    rustup target add wasm32-unknown-unknown || return 1
  fi

  if [ "$want_test" = yes ]; then
    if cargo clippy --version >/dev/null 2>&1; then
      _qt_say "clippy: present"
    else
      _qt_say "clippy: installing"
      rustup component add clippy || return 1
    fi
  fi

  # 0.3.11 needs a newer rustc than this toolchain; 0.3.10 is pinned on purpose.
  if cargo leptos --version 2>/dev/null | grep -q '0\.3\.10'; then
    _qt_say "cargo-leptos 0.3.10: present"
  else
    _qt_say "cargo-leptos 0.3.10: installing (about 15 minutes on 2 cores)"
    cargo install cargo-leptos --version =0.3.10 --locked || return 1
  fi

  # cargo-leptos runs whatever wasm-bindgen is on PATH without checking its version; it must be
  # exactly the wasm-bindgen crate version in Cargo.lock.
  local wb
  wb="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
  if [ -z "$wb" ]; then
    echo "setup: cannot find the wasm-bindgen version in Cargo.lock" >&2
    return 1
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wb" ]; then
    _qt_say "wasm-bindgen-cli $wb: present"
  else
    _qt_say "wasm-bindgen-cli $wb: installing (about 5 minutes)"
    cargo install wasm-bindgen-cli --version "=$wb" --force || return 1
  fi

  # npm packages of end2end/: the browser test runner, and binaryen's wasm-opt (cargo-leptos
  # would download one from GitHub; Debian's is too old and breaks hydration).
  if [ -x end2end/node_modules/.bin/wasm-opt ] && [ -d end2end/node_modules/@playwright/test ] \
    && [ end2end/node_modules/.package-lock.json -nt end2end/package-lock.json ]; then
    _qt_say "end2end npm packages: present"
  else
    _qt_say "end2end npm packages: installing"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) || return 1
  fi
  case ":$PATH:" in
    *":$_qt_root/end2end/node_modules/.bin:"*) ;;
    *) export PATH="$_qt_root/end2end/node_modules/.bin:$PATH" ;;
  esac
  _qt_say "wasm-opt: $(wasm-opt --version)"

  if [ "$want_test" = yes ]; then
    if [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
      _qt_say "Chromium: present ($("${CHROMIUM_PATH:-/usr/bin/chromium}" --version 2>/dev/null))"
    else
      _qt_say "Chromium: installing Debian's package"
      local sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq || return 1
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium || return 1
    fi
    # npm packages of the JS client's tests (the `eventsource` package for Node, TanStack
    # Query's core for the adapter test); the client itself has none.
    if [ -d clients/js/node_modules/eventsource ] && [ -d clients/js/node_modules/@tanstack/query-core ]; then
      _qt_say "clients/js npm packages: present"
    else
      _qt_say "clients/js npm packages: installing"
      (cd clients/js && npm ci --no-audit --no-fund) || return 1
    fi
    # Redis for the tests of the shared event log: each test starts its own redis-server on a
    # free port and stops it.
    if command -v redis-server >/dev/null 2>&1; then
      _qt_say "redis-server: present ($(redis-server --version | awk '{print $3}'))"
    else
      _qt_say "redis-server: installing Debian's package"
      local sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq || return 1
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server || return 1
    fi
  fi
}

_qt_want_test=no
[ "${1:-}" = "--test" ] && _qt_want_test=yes
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  _qt_setup "$_qt_want_test"
else
  (_qt_setup "$_qt_want_test") || return 1
  case ":$PATH:" in
    *":$_qt_root/end2end/node_modules/.bin:"*) ;;
    *) export PATH="$_qt_root/end2end/node_modules/.bin:$PATH" ;;
  esac
fi

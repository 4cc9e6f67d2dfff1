# Shared helpers for calhook's scripts. Sourced, never run.
# shellcheck shell=bash

CALHOOK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CALHOOK_ROOT

# Pinned tool versions. worker-build's minor must match the `worker` crate's.
WORKER_BUILD_VERSION="0.8.7"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version that Cargo.lock resolved; wasm-bindgen-cli must match it exactly.
locked_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' \
    "$CALHOOK_ROOT/Cargo.lock"
}

# Puts everything setup installed on PATH and tells worker-build where its helpers are,
# so that it never tries to download them.
calhook_env() {
  export PATH="$HOME/.cargo/bin:$CALHOOK_ROOT/node_modules/.bin:$PATH"
  export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
  export WASM_OPT_BIN="$CALHOOK_ROOT/node_modules/.bin/wasm-opt"
  export ESBUILD_BIN="$CALHOOK_ROOT/node_modules/.bin/esbuild"
  export WRANGLER_SEND_METRICS=false
  # Which rustc builds wasm: written by scripts/setup (rustup's if it has the
  # wasm32 target, otherwise Debian's rustc-web with a locally built std).
  CALHOOK_WASM_TOOLCHAIN="${CALHOOK_WASM_TOOLCHAIN:-$(cat "$CALHOOK_ROOT/.calhook-toolchain" 2>/dev/null || echo rustup)}"
  export CALHOOK_WASM_TOOLCHAIN
}

# Runs a command with the toolchain that can build wasm32-unknown-unknown.
with_wasm_toolchain() {
  if [ "$CALHOOK_WASM_TOOLCHAIN" = debian ]; then
    PATH="/usr/bin:$PATH" RUSTUP_TOOLCHAIN= "$@"
  else
    "$@"
  fi
}

#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, every crate's tests (the fuzz corpus
# replay and the interop suite against real php-fpm, php-cgi, uWSGI and nginx included),
# and a short fuzzing smoke run of every fuzz target.
#
# Environment:
#   CGI_CODECS_SKIP_INTEROP=1  build the interop tests as ignored (they are reported as
#                              such) and do not install the peers.
#   FUZZ_SECONDS=N             seconds per fuzz target in the smoke run (default 10;
#                              0 skips it, which this script then says loudly).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [ -n "${CGI_CODECS_SKIP_INTEROP:-}" ] && [ "${CGI_CODECS_SKIP_INTEROP}" != 0 ]; then
  step "interop peers: NOT installed (CGI_CODECS_SKIP_INTEROP is set; interop tests will be ignored)"
else
  step "interop peers (php-fpm, php-cgi, nginx, uWSGI, cgi-fcgi)"
  ./scripts/install-peers.sh
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

step "cargo test --workspace"
cargo test --workspace

fuzz_seconds=${FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" = 0 ]; then
  step "fuzz smoke run: SKIPPED (FUZZ_SECONDS=0)"
else
  step "fuzz smoke run (${fuzz_seconds}s per target, nightly)"
  ./fuzz/run.sh "$fuzz_seconds"
fi

#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, every crate's tests (the fuzz corpus
# replay and the interop suite against real php-fpm, php-cgi, uWSGI and nginx included),
# `cargo package` of every published crate, and a short fuzzing smoke run of every fuzz
# target.
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

# The crates published to crates.io, each packaged and verified (its .crate unpacked and
# built on its own). They go in one command: cargo (1.90 or later) then verifies each
# against the packages of the others from a temporary local registry, so the path
# dependencies between them need no --no-verify even before any is on crates.io.
# --allow-dirty: this checks what would be published, not whether the tree is committed.
published=(cgi-env fastcgi-codec uwsgi-codec fastcgi-uwsgi)
step "cargo package: ${published[*]}"
# A new member is either in that list or marked `publish = false`.
publishable=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
print(" ".join(sorted(p["name"] for p in json.load(sys.stdin)["packages"] if p["publish"] != [])))')
if [ "$publishable" != "$(printf '%s\n' "${published[@]}" | LC_ALL=C sort | xargs)" ]; then
  printf '\n==> FAILED: publishable crates are [%s], scripts/test.sh packages [%s]\n' \
    "$publishable" "${published[*]}" >&2
  exit 1
fi
package_args=()
for crate in "${published[@]}"; do package_args+=(-p "$crate"); done
if ! cargo package --allow-dirty "${package_args[@]}"; then
  printf '\n==> FAILED: cargo package (a published crate does not package or build from its .crate)\n' >&2
  exit 1
fi

fuzz_seconds=${FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" = 0 ]; then
  step "fuzz smoke run: SKIPPED (FUZZ_SECONDS=0)"
else
  step "fuzz smoke run (${fuzz_seconds}s per target, nightly)"
  ./fuzz/run.sh "$fuzz_seconds"
fi

#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) on the nightly toolchain and prints
# the executions of each. Installs cargo-fuzz when it is missing. New corpus entries stay
# in a scratch copy: the committed corpus holds the seeds and regressions only.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "error: the nightly toolchain is required for fuzzing (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=$(cargo +nightly fuzz list)
[ -n "$targets" ] || { echo "error: no fuzz targets" >&2; exit 1; }
cargo +nightly fuzz build -O $targets >/dev/null 2>&1 || cargo +nightly fuzz build -O

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
summary=()
failed=0
for target in $targets; do
  mkdir -p "$work/$target"
  cp -r "corpus/$target/." "$work/$target/" 2>/dev/null || true
  log="$work/$target.log"
  if cargo +nightly fuzz run -O "$target" "$work/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed=1
    tail -n 40 "$log" >&2
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)
  summary+=("$(printf '%-28s %12s execs  %s' "$target" "${execs:-?}" "$status")")
done

echo
echo "fuzz run: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
exit $failed

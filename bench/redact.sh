#!/usr/bin/env bash
# Cost of redaction on an export: the demo dataset (default scale 15 ≈ 0.9M events, gzip
# NDJSON) exported as JSON lines to /dev/null with --no-redact, the default (prompt fields)
# and --redact-all; median of 3 runs each. Prints a Markdown table.
# Usage: bash bench/redact.sh [SCALE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
scale=${1:-15}
work=${2:-${TMPDIR:-/tmp}/compliance-report-bench}/redact-x$scale
cargo build --release --quiet
bin=target/release/compliance-report
mkdir -p "$work"
demo_data "$bin" "$work" "$scale"
events=$(awk -F'"events": ' '/"events"/ {gsub(/[^0-9].*/, "", $2); print $2}' "$work/truth.json")
head -c 32 /dev/urandom > "$work/redact.key"
echo "| redaction | events | seconds | events/s | peak RSS (MiB) | replaced |"
echo "|---|---:|---:|---:|---:|---:|"
for mode in --no-redact --redact --redact-all; do
  log=$work/time$mode.log
  key=(--redact-key "$work/redact.key")
  [ "$mode" = --no-redact ] && key=()
  median3 "$log" "$bin" export --source "$work/events" --format json --no-chain "$mode" "${key[@]}"
  replaced=$(grep -o 'redacted [0-9]* secrets' "$log" | grep -o '[0-9]*' || echo 0)
  s=$(secs "$log")
  printf '| `%s` | %d | %.1f | %.0f | %s | %s |\n' "$mode" "$events" "$s" "$(echo "$events / $s" | bc -l)" "$(rss "$log")" "${replaced:-0}"
done

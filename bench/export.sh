#!/usr/bin/env bash
# Export throughput and peak memory on the bundled demo data and on a 10x generated set.
# Usage: bash bench/export.sh [WORKDIR]   (prints a Markdown table; needs GNU time at /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
work=${1:-${TMPDIR:-/tmp}/compliance-report-bench}
mkdir -p "$work"
cargo build --release --quiet
bin=target/release/compliance-report

if [ ! -f "$work/x10/truth.json" ]; then
  "$bin" -q demo generate --out "$work/x10" --scale 10 --seed 7
fi

measure() { # label format source-args...
  local label=$1 format=$2; shift 2
  local log="$work/time.log"
  # Warm the page cache once, then measure.
  "$bin" -q export --format "$format" "$@" > /dev/null
  /usr/bin/time -v "$bin" -q export --format "$format" "$@" > /dev/null 2> "$log"
  local events secs rss
  events=$("$bin" -q export --format json "$@" | wc -l)
  secs=$(secs "$log")
  rss=$(rss "$log")
  printf '| %s | %s | %d | %.2f | %.0f | %s |\n' "$label" "$format" "$events" "$secs" "$(echo "$events / $secs" | bc -l)" "$rss"
}

echo "| input | format | events | seconds | events/s | peak RSS (MiB) |"
echo "|---|---|---:|---:|---:|---:|"
measure "demo (embedded, gzip)" cef
measure "demo (embedded, gzip)" json
measure "10x generated (plain files)" cef --source "$work/x10/events"
measure "10x generated (plain files)" json --source "$work/x10/events"

#!/usr/bin/env bash
# Anomaly detection over a generated demo dataset (default scale 150 ≈ 10M events over 90 days,
# gzip NDJSON): `anomalies --range 2026-10-01..2026-10-31 --baseline 60d` reads all of it.
# Prints time, peak RSS and the number of findings.
# Usage: bash bench/anomalies.sh [SCALE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
scale=${1:-150}
work=${2:-${TMPDIR:-/tmp}/compliance-report-bench}/anomalies-x$scale
cargo build --release --quiet
bin=target/release/compliance-report
mkdir -p "$(dirname "$work")"
if [ ! -f "$work/truth.json" ]; then
  /usr/bin/time -v "$bin" -q demo generate --out "$work" --scale "$scale" --seed 7 --gzip 2> "$work.gen.log" \
    || { cat "$work.gen.log" >&2; exit 1; }
fi
log=$work.time.log
/usr/bin/time -v "$bin" -q anomalies --source "$work/events" --range 2026-10-01..2026-10-31 --baseline 60d \
  --format json > "$work.findings.json" 2> "$log"
events=$(awk -F'"events": ' '/"events"/ {gsub(/[^0-9].*/, "", $2); print $2}' "$work/truth.json")
secs=$(secs "$log")
rss=$(rss "$log")
echo "| source | events | seconds | events/s | peak RSS (MiB) | findings |"
echo "|---|---:|---:|---:|---:|---:|"
printf '| files (gzip NDJSON, scale %s) | %d | %.1f | %.0f | %s | %d |\n' "$scale" "$events" "$secs" \
  "$(echo "$events / $secs" | bc -l)" "$rss" "$(wc -l < "$work.findings.json")"

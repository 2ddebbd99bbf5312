#!/usr/bin/env bash
# Anomaly detection over a generated demo dataset (default scale 150 ≈ 10M events over 90 days,
# gzip NDJSON): `anomalies --range 2026-10-01..2026-10-31 --baseline 60d` reads all of it.
# Then the same with the rows cache (`--cache-dir`): a first run (every file read, its segment
# written), a second (every file from its segment), and one after a file was touched (that file
# read again). Every run's findings must be the uncached run's, byte for byte.
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
run() { # LOG OUT [ARGS...]: one run under GNU time
  local log=$1 out=$2; shift 2
  /usr/bin/time -v "$bin" -q anomalies --source "$work/events" --range 2026-10-01..2026-10-31 --baseline 60d \
    --format json "$@" > "$out" 2> "$log"
}
events=$(awk -F'"events": ' '/"events"/ {gsub(/[^0-9].*/, "", $2); print $2}' "$work/truth.json")
row() { # LABEL LOG OUT
  cmp -s "$3" "$work.findings.json" || { echo "findings of '$1' differ from the uncached run's" >&2; exit 1; }
  local s; s=$(secs "$2")
  printf '| %s | %d | %.1f | %.0f | %s | %d |\n' "$1" "$events" "$s" "$(echo "$events / $s" | bc -l)" "$(rss "$2")" \
    "$(wc -l < "$3")"
}
run "$work.time.log" "$work.findings.json"
cache=$work.cache
rm -rf "$cache"
run "$work.cache1.log" "$work.cache1.json" --cache-dir "$cache"
run "$work.cache2.log" "$work.cache2.json" --cache-dir "$cache"
touch "$work/events/audit_json.log.gz"
run "$work.cache3.log" "$work.cache3.json" --cache-dir "$cache"
echo "| source | events | seconds | events/s | peak RSS (MiB) | findings |"
echo "|---|---:|---:|---:|---:|---:|"
row "files (gzip NDJSON, scale $scale)" "$work.time.log" "$work.findings.json"
row "the same, --cache-dir: first run (every file read, segments written: $(du -sm "$cache" | cut -f1) MB)" \
  "$work.cache1.log" "$work.cache1.json"
row "the same, --cache-dir: next run (every file from its segment)" "$work.cache2.log" "$work.cache2.json"
row "the same, --cache-dir: audit_json.log.gz touched (read again, the others from their segments)" \
  "$work.cache3.log" "$work.cache3.json"

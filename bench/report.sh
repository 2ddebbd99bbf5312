#!/usr/bin/env bash
# A SOC 2 report for October 2026 in all five formats (html, pdf, md, json, csv), default
# 60-day baseline, at scale. Prints time and peak RSS (one run each: they are long).
#   files [SCALE]       demo data generated at SCALE (default 43: about 1M events in October,
#                       2.9M read with the baseline), gzip NDJSON
#   clickhouse [N] [HOST]  N rows of `ai_audit_events` shaped like GitLab's (bench/lib.sh
#                       fill_sessions: sessions of 8 rows) spread evenly over 2026-08-02 ..
#                       2026-10-31 (default 10M: a third in October); the report with the
#                       questions answered from the tables, from the fact snapshot (`db facts`),
#                       and with `--local` (events kept here)
# Usage: bash bench/report.sh files [SCALE] | bash bench/report.sh clickhouse [N] [HOST]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
mode=${1:-files}
cargo build --release --quiet
bin=$PWD/target/release/compliance-report
base=${TMPDIR:-/tmp}/compliance-report-bench
args=(report --framework soc2 --range 2026-10-01..2026-10-31 --format html,pdf,md,json,csv
  --generated-at 2026-11-01T06:00:00Z)
# row LABEL LOG OUT: one table row.
row() {
  printf '| %s | %s | %.1f | %s | %s | %s |\n' "$1" "$(jq .summary.events "$3/report.json")" "$(secs "$2")" \
    "$(rss "$2")" "$(jq .summary.sessions "$3/report.json")" "$(du -sh "$3" | cut -f1)"
}
echo "| source | events in the period | seconds | peak RSS (MiB) | sessions | package size |"
echo "|---|---:|---:|---:|---:|---:|"
case $mode in
files)
  scale=${2:-43}
  work=$base/report-x$scale
  demo_data "$bin" "$work" "$scale"
  rm -rf "$work.out"
  /usr/bin/time -v "$bin" -q "${args[@]}" --source "$work/events" --out "$work.out" > /dev/null 2> "$work.log" \
    || { cat "$work.log" >&2; exit 1; }
  row "files (demo, scale $scale)" "$work.log" "$work.out"
  ;;
clickhouse)
  n=${2:-10000000} host=${3:-127.0.0.1}
  db=bench_report_$n
  url=clickhouse://default@$host:8123/$db
  ch() { clickhouse-client --host "$host" --query "$1"; }
  if [ "$(ch "SELECT count() FROM $db.ai_audit_events" 2>/dev/null)" != "$n" ]; then
    ch "DROP DATABASE IF EXISTS $db"
    "$bin" -q db init --source "$url"
    # 90 days in microseconds, spread over the N rows.
    fill_sessions "$host" "$db" "$n" 1785628800000000 $((90 * 86400 * 1000000 / n))
  fi
  work=$base/$db
  mkdir -p "$base"
  ch "DROP TABLE IF EXISTS $db.compliance_report_facts_state"
  for step in tables facts snapshot local; do
    rm -rf "$work.$step"
    case $step in
    tables) /usr/bin/time -v "$bin" -q "${args[@]}" --source "$url" --out "$work.$step" > /dev/null 2> "$work.$step.log" ;;
    facts) /usr/bin/time -v "$bin" -q db facts --source "$url" 2> "$work.$step.log"; continue ;;
    snapshot) /usr/bin/time -v "$bin" -q "${args[@]}" --source "$url" --out "$work.$step" > /dev/null 2> "$work.$step.log" ;;
    local) /usr/bin/time -v "$bin" -q "${args[@]}" --source "$url" --local --out "$work.$step" > /dev/null 2> "$work.$step.log" ;;
    esac || { cat "$work.$step.log" >&2; exit 1; }
    row "ClickHouse, $step" "$work.$step.log" "$work.$step"
  done
  printf '| `db facts` (writing the snapshot) | - | %.1f | %s | - | - |\n' "$(secs "$work.facts.log")" "$(rss "$work.facts.log")"
  for step in snapshot local; do
    for f in report.json report.md evidence.csv traceability.csv report.html; do
      cmp -s "$work.tables/$f" "$work.$step/$f" || echo "$f differs between the tables and $step" >&2
    done
  done
  ;;
*) echo "usage: bash bench/report.sh files [SCALE] | clickhouse [N] [HOST]" >&2; exit 2 ;;
esac

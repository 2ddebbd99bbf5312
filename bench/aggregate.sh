#!/usr/bin/env bash
# Daily per-actor counts (count-by-actor-day) over N ai_audit_events rows in ClickHouse: pushed
# down as one GROUP BY, against pulling every row and aggregating here with polars (--local).
# Median of three runs each; peak RSS from GNU time.
# Usage: bash bench/aggregate.sh [ROWS...]   (default: 10000000). Needs ClickHouse on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
host=${BENCH_CH_HOST:-127.0.0.1}
db=cr_bench_agg
url="clickhouse://default@$host:8123/$db"
cargo build --release --quiet
bin=target/release/compliance-report
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000000)
echo "| rows | push-down s | local (pull + polars) s | speed-up | push-down peak RSS (MiB) | local peak RSS (MiB) | result rows |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  clickhouse-client --host "$host" --query "DROP DATABASE IF EXISTS $db"
  "$bin" -q db init --source "$url"
  bash bench/ch_fill.sh "$db" "$n" "$host"
  OUT=/tmp/cr-agg-push.out median3 /tmp/cr-agg-push "$bin" -q aggregate --source "$url" --query count-by-actor-day
  OUT=/tmp/cr-agg-local.out median3 /tmp/cr-agg-local "$bin" -q aggregate --source "$url" --query count-by-actor-day --local
  cmp -s /tmp/cr-agg-push.out /tmp/cr-agg-local.out || { echo "push-down and local answers differ" >&2; exit 1; }
  rows=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["rows"]))' /tmp/cr-agg-push.out)
  tp=$(secs /tmp/cr-agg-push); tl=$(secs /tmp/cr-agg-local)
  printf '| %d | %.2f | %.2f | %.0f× | %s | %s | %d |\n' "$n" "$tp" "$tl" "$(echo "$tl/$tp" | bc -l)" \
    "$(rss /tmp/cr-agg-push)" "$(rss /tmp/cr-agg-local)" "$rows"
done
[ -n "${KEEP:-}" ] || clickhouse-client --host "$host" --query "DROP DATABASE IF EXISTS $db"

#!/usr/bin/env bash
# Export N ai_audit_events rows (realistic details) from ClickHouse to CEF on /dev/null, against
# clickhouse-client reading the same rows and columns as TabSeparated, in one run; each reader's
# median of three runs; peak RSS from GNU time.
# Usage: bash bench/clickhouse.sh [ROWS...]   (default: 1000000)
# Needs a ClickHouse server on 127.0.0.1 (HTTP 8123 for the tool, native 9000 for clickhouse-client);
# BENCH_CH_HOST overrides the host.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
host=${BENCH_CH_HOST:-127.0.0.1}
db=cr_bench_ch
url="clickhouse://default@$host:8123/$db"
cargo build --release --quiet
bin=target/release/compliance-report
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
ch() { clickhouse-client --host "$host" --query "$1"; }


echo "ClickHouse $(ch 'SELECT version()')"
echo "| rows | compliance-report s | rows/s | clickhouse-client s | rows/s | ratio | clickhouse-client ORDER BY s | ratio | peak RSS (MiB) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  ch "DROP DATABASE IF EXISTS $db"
  "$bin" -q db init --source "$url"
  bash bench/ch_fill.sh "$db" "$n" "$host"
  cols="id, created_at, cloud_event_id, author_id, project_id, namespace_id, event_name, ip_address, workflow_id, details"
  ch "SELECT $cols FROM $db.ai_audit_events FORMAT TabSeparated" > /dev/null
  median3 /tmp/cr-bench-chc.log clickhouse-client --host "$host" --query "SELECT $cols FROM $db.ai_audit_events FORMAT TabSeparated"
  median3 /tmp/cr-bench-chc-ordered.log clickhouse-client --host "$host" \
    --query "SELECT $cols FROM $db.ai_audit_events ORDER BY created_at, id FORMAT TabSeparated"
  median3 /tmp/cr-bench-cr.log "$bin" -q export --source "$url" --format cef --lag 0
  lines=$("$bin" -q export --source "$url" --format cef --lag 0 | wc -l)
  [ "$lines" = "$n" ] || { echo "exported $lines rows, expected $n" >&2; exit 1; }
  t_cr=$(secs /tmp/cr-bench-cr.log); t_c=$(secs /tmp/cr-bench-chc.log); t_co=$(secs /tmp/cr-bench-chc-ordered.log)
  printf '| %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f | %s |\n' "$n" "$t_cr" "$(echo "$n/$t_cr" | bc -l)" \
    "$t_c" "$(echo "$n/$t_c" | bc -l)" "$(echo "$t_c/$t_cr" | bc -l)" "$t_co" "$(echo "$t_co/$t_cr" | bc -l)" "$(rss /tmp/cr-bench-cr.log)"
done
[ -n "${KEEP:-}" ] || ch "DROP DATABASE IF EXISTS $db"

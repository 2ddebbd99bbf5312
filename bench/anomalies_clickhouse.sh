#!/usr/bin/env bash
# Anomaly detection pushed down into ClickHouse over N generated ai_audit_events rows: a row
# every 5 s from 2025-01-01, 120 users acting through a service account, sessions of 8 rows
# (started with an authorization, plan, 2 resources, 3 token usages, completed), JSON details
# like GitLab's; every row inside baseline + range. Planted on top: 3,000 events of one user on a
# Saturday night from a new IP address, in 375 sessions started without authorization (so the
# run also fetches evidence). Measures `anomalies` reading the tables
# (details parsed on every question) and after `db facts` (the snapshot), and `db facts` itself.
# Usage: bash bench/anomalies_clickhouse.sh [N] [HOST]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
n=${1:-10000000} host=${2:-127.0.0.1}
db=bench_anomalies_$n
cargo build --release --quiet
bin=target/release/compliance-report
url=clickhouse://default@$host:8123/$db
ch() { clickhouse-client --host "$host" --query "$1"; }
planted=3000
if [ "$(ch "SELECT count() FROM $db.ai_audit_events" 2>/dev/null)" != "$((n + planted))" ]; then
  ch "DROP DATABASE IF EXISTS $db"
  "$bin" -q db init --source "$url"
  fill_sessions "$host" "$db" "$n" 1735689600000000 5000000
  ch "INSERT INTO $db.ai_audit_events
    SELECT 1000000000 + number AS id, toInt64((1784336400 + number) * 1000000) AS created_at,
      lower(hex(MD5(toString(number)))) AS cloud_event_id, 5000 AS author_id, toNullable(toInt64(100)) AS project_id,
      NULL AS namespace_id,
      ['duo_flow_started','duo_flow_plan_generated','duo_flow_resource_created','duo_flow_token_usage',
       'duo_flow_token_usage','duo_flow_resource_created','duo_flow_token_usage','duo_flow_completed'][1 + number % 8] AS event_name,
      toNullable('10.99.0.1') AS ip_address, NULL AS workflow_id,
      concat('{\"session_id\":\"burst-', toString(intDiv(number, 8)), '\",\"flow_type\":\"software_development\",',
        '\"user\":{\"id\":1000,\"username\":\"user0\"},\"author_user_type\":\"service_account\",',
        '\"composite_identity\":true,\"model_provider\":\"anthropic\",\"model_engine\":\"claude-sonnet-4-5\"}') AS details
    FROM system.numbers LIMIT $planted"
fi
args=(anomalies --source "$url" --range 2026-06-01..2026-08-03 --baseline 600d --format json)
out=${TMPDIR:-/tmp}/$db
ch "DROP TABLE IF EXISTS $db.compliance_report_facts_state"
/usr/bin/time -v "$bin" -q "${args[@]}" > "$out.tables.json" 2> "$out.tables.log"
/usr/bin/time -v "$bin" -q db facts --source "$url" 2> "$out.facts.log"
OUT=$out.snapshot.json median3 "$out.snapshot.log" "$bin" -q "${args[@]}"
echo "| ClickHouse | events | seconds | peak RSS (MiB) | findings |"
echo "|---|---:|---:|---:|---:|"
printf '| anomalies, reading the tables | %d | %.1f | %s | %d |\n' "$((n + planted))" "$(secs "$out.tables.log")" "$(rss "$out.tables.log")" "$(wc -l < "$out.tables.json")"
printf '| db facts (writing the snapshot) | %d | %.1f | %s | - |\n' "$((n + planted))" "$(secs "$out.facts.log")" "$(rss "$out.facts.log")"
printf '| anomalies, from the snapshot (median of 3) | %d | %.1f | %s | %d |\n' "$((n + planted))" "$(secs "$out.snapshot.log")" "$(rss "$out.snapshot.log")" "$(wc -l < "$out.snapshot.json")"
cmp -s "$out.tables.json" "$out.snapshot.json" || echo "findings differ between the tables and the snapshot" >&2

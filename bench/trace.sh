#!/usr/bin/env bash
# `trace --commit` and `sessions show` on a large PostgreSQL and ClickHouse source: N
# ai_audit_events rows (bench/postgres.sh's and bench/ch_fill.sh's shape: eight events per
# session, one every 5 s), N/8 flow_sessions and one commit per session in
# flow_session_resources. Times the lookup of one session in the middle; median of three runs,
# peak RSS from GNU time. Usage: bash bench/trace.sh [ROWS]   (default: 10000000)
# Needs PostgreSQL (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres) and
# ClickHouse on 127.0.0.1 (BENCH_CH_HOST). ONLY=pg or ONLY=ch runs one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
n=${1:-10000000}
sessions=$((n / 8))
mid=$((sessions / 2))
admin=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg="${admin%/*}/cr_bench_trace"
host=${BENCH_CH_HOST:-127.0.0.1}
chdb=cr_bench_trace
ch_url="clickhouse://default@$host:8123/$chdb"
cargo build --release --quiet
bin=target/release/compliance-report
ch() { clickhouse-client --host "$host" --query "$1"; }

only=${ONLY:-pg,ch}
if [[ $only == *pg* ]]; then
echo "filling PostgreSQL ($n events, $sessions sessions)" >&2
psql "$admin" -X -q -c "DROP DATABASE IF EXISTS cr_bench_trace" -c "CREATE DATABASE cr_bench_trace" > /dev/null
"$bin" -q db init --source "$pg"
psql "$pg" -X -q -v ON_ERROR_STOP=1 > /dev/null <<SQL
CREATE TABLE ai_audit_events (id bigint NOT NULL, created_at timestamptz NOT NULL, cloud_event_id uuid NOT NULL,
  author_id bigint NOT NULL, project_id bigint, namespace_id bigint, event_name text NOT NULL, ip_address inet,
  workflow_id bigint, details text) PARTITION BY RANGE (created_at);
CREATE TABLE ai_audit_events_2025 PARTITION OF ai_audit_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE ai_audit_events_2026 PARTITION OF ai_audit_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO ai_audit_events
SELECT i, '2025-01-01'::timestamptz + i * interval '5 seconds', md5(i::text)::uuid, 1000 + i % 120, 100 + i % 12, NULL,
  (ARRAY['duo_flow_started','duo_flow_plan_generated','duo_flow_resource_created','duo_flow_token_usage','duo_flow_completed'])[1 + i % 5],
  ('10.20.' || (i % 250) || '.' || (i % 200))::inet, i / 8,
  json_build_object('session_id', md5((i / 8)::text)::uuid, 'flow_type', 'software_development',
    'user', json_build_object('id', 1000 + i % 120, 'username', 'user' || (i % 120)),
    'author_user_type', 'service_account', 'input_tokens', i % 9000, 'output_tokens', i % 900,
    'model_provider', 'anthropic', 'model_engine', 'claude-sonnet-4-5', 'entity_path', 'acme/payments/api',
    'author_name', 'duo-developer-sa')::text
FROM generate_series(0, $n - 1) i;
CREATE INDEX ON ai_audit_events (created_at, id);
INSERT INTO flow_sessions (session_id, user_id, project_id, flow_type, started_at, completed_at, status,
  authorization_verified_at, authorization_method, authorized_scopes, service_account_id)
SELECT md5(s::text)::uuid, 1000 + s % 120, 100 + s % 12, 'software_development',
  '2025-01-01'::timestamptz + s * 40 * interval '1 second', '2025-01-01'::timestamptz + (s * 40 + 35) * interval '1 second',
  'completed', '2025-01-01'::timestamptz + s * 40 * interval '1 second', 'oauth_composite_identity', ARRAY['api'], 5005
FROM generate_series(0, $sessions - 1) s;
INSERT INTO flow_session_resources (flow_session_id, resource_type, resource_id, action, created_at)
SELECT md5(s::text)::uuid, 'Commit', md5('c' || s) || left(md5('d' || s), 8), 'created',
  '2025-01-01'::timestamptz + (s * 40 + 10) * interval '1 second'
FROM generate_series(0, $sessions - 1) s;
VACUUM ANALYZE;
SQL
commit=$(psql "$pg" -X -A -t -c "SELECT left(md5('c' || $mid), 10)")
session=$(psql "$pg" -X -A -t -c "SELECT md5('$mid')::uuid")
fi
if [[ $only == *ch* ]]; then

echo "filling ClickHouse" >&2
ch "DROP DATABASE IF EXISTS $chdb"
"$bin" -q db init --source "$ch_url"
bash bench/ch_fill.sh "$chdb" "$n" "$host"
ch "INSERT INTO $chdb.flow_sessions (session_id, user_id, service_account_id, project_id, flow_type, started_at,
    completed_at, status, authorization_verified_at, authorization_method, authorized_scopes)
  SELECT lower(hex(MD5(toString(number)))), 1000 + number % 120, toNullable(toInt64(5005)), toNullable(toInt64(100 + number % 12)),
    'software_development', toInt64(1735689600000000 + number * 40000000), toNullable(toInt64(1735689600000000 + number * 40000000 + 35000000)),
    'completed', toNullable(toInt64(1735689600000000 + number * 40000000)), toNullable('oauth_composite_identity'), ['api']
  FROM system.numbers LIMIT $sessions"
ch "INSERT INTO $chdb.flow_session_resources (flow_session_id, resource_type, resource_id, action, created_at)
  SELECT lower(hex(MD5(toString(number)))), 'Commit',
    concat(lower(hex(MD5(concat('c', toString(number))))), substring(lower(hex(MD5(concat('d', toString(number))))), 1, 8)),
    'created', toInt64(1735689600000000 + number * 40000000 + 10000000)
  FROM system.numbers LIMIT $sessions"
ch_session=$(ch "SELECT lower(hex(MD5('$mid')))")
commit=${commit:-$(ch "SELECT substring(lower(hex(MD5(concat('c', toString($mid))))), 1, 10)")}
fi

echo "| source | events | command | median s | peak RSS (MiB) | events in answer |"
echo "|---|---:|---|---:|---:|---:|"
run() { # label source session args...
  local label=$1 src=$2; shift 2
  OUT=/tmp/cr-bench-trace.out median3 /tmp/cr-bench-trace.log "$bin" -q "$@" --source "$src" --format json
  local events
  events=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d.get("sessions",[d]); print(sum(len(x["timeline"]) for x in s))' /tmp/cr-bench-trace.out)
  [ "$events" -gt 0 ] || { echo "$label: empty answer" >&2; exit 1; }
  printf '| %s | %d | %s | %.2f | %s | %d |\n' "$label" "$n" "$1 ${*:2:2}" "$(secs /tmp/cr-bench-trace.log)" "$(rss /tmp/cr-bench-trace.log)" "$events"
}
if [[ $only == *pg* ]]; then
  run PostgreSQL "$pg" trace --commit "$commit"
  run PostgreSQL "$pg" sessions show "$session"
  [ -n "${KEEP:-}" ] || psql "$admin" -X -q -c "DROP DATABASE IF EXISTS cr_bench_trace" > /dev/null
fi
if [[ $only == *ch* ]]; then
  run ClickHouse "$ch_url" trace --commit "$commit"
  run ClickHouse "$ch_url" sessions show "$ch_session"
  [ -n "${KEEP:-}" ] || ch "DROP DATABASE IF EXISTS $chdb"
fi

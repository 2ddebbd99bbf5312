#!/usr/bin/env bash
# Export N ai_audit_events rows (realistic details) to CEF on /dev/null, against psql's \copy of
# the same rows and columns, in one run; each reader's median of three runs; peak RSS from GNU time.
# Usage: bash bench/postgres.sh [ROWS...]   (default: 1000000 5000000)
# Needs a PostgreSQL server: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
admin=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
base=${admin%/*}
db=cr_bench_pg
url="$base/$db"
cargo build --release --quiet
bin=target/release/compliance-report
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000)
cols="id, created_at, cloud_event_id, author_id, project_id, namespace_id, event_name, ip_address, workflow_id, details"


echo "| rows | compliance-report s | rows/s | psql \\copy s | rows/s | ratio | psql \\copy ORDER BY s | ratio | peak RSS (MiB) |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  psql "$admin" -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" > /dev/null
  psql "$url" -X -q -v ON_ERROR_STOP=1 > /dev/null <<SQL
CREATE TABLE ai_audit_events (id bigint NOT NULL, created_at timestamptz NOT NULL, cloud_event_id uuid NOT NULL,
  author_id bigint NOT NULL, project_id bigint, namespace_id bigint, event_name text NOT NULL, ip_address inet,
  workflow_id bigint, details text, CHECK (num_nonnulls(namespace_id, project_id) = 1)) PARTITION BY RANGE (created_at);
CREATE TABLE ai_audit_events_2025 PARTITION OF ai_audit_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE ai_audit_events_2026 PARTITION OF ai_audit_events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO ai_audit_events
SELECT i, '2025-01-01'::timestamptz + i * interval '5 seconds' + (i % 1000) * interval '1 microsecond',
  md5(i::text)::uuid, 1000 + i % 120, 100 + i % 12, NULL,
  (ARRAY['duo_flow_started','duo_flow_plan_generated','duo_flow_resource_created','duo_flow_token_usage','duo_flow_completed'])[1 + i % 5],
  ('10.20.' || (i % 250) || '.' || (i % 200))::inet, i / 8,
  json_build_object('session_id', md5((i / 8)::text)::uuid, 'flow_type', 'software_development',
    'user', json_build_object('id', 1000 + i % 120, 'username', 'user' || (i % 120)),
    'author_user_type', 'service_account', 'correlation_id', md5(i::text), 'input_tokens', i % 9000,
    'output_tokens', i % 900, 'model_provider', 'anthropic', 'model_engine', 'claude-sonnet-4-5',
    'entity_path', 'acme/payments/api', 'author_name', 'duo-developer-sa')::text
FROM generate_series(1, $n) i;
CREATE INDEX ON ai_audit_events (created_at, id);
VACUUM ANALYZE ai_audit_events;
SQL
  # Warm the cache, then measure each reader.
  psql "$url" -X -q -c "\\copy (SELECT $cols FROM ai_audit_events) TO '/dev/null'"
  median3 /tmp/cr-bench-psql.log psql "$url" -X -q -c "\\copy (SELECT $cols FROM ai_audit_events) TO STDOUT"
  median3 /tmp/cr-bench-psql-ordered.log psql "$url" -X -q -c "\\copy (SELECT $cols FROM ai_audit_events ORDER BY created_at, id) TO STDOUT"
  median3 /tmp/cr-bench-cr.log "$bin" -q export --source "$url" --format cef --lag 0
  lines=$("$bin" -q export --source "$url" --format cef --lag 0 | wc -l)
  [ "$lines" = "$n" ] || { echo "exported $lines rows, expected $n" >&2; exit 1; }
  t_cr=$(secs /tmp/cr-bench-cr.log); t_ps=$(secs /tmp/cr-bench-psql.log); t_po=$(secs /tmp/cr-bench-psql-ordered.log)
  printf '| %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.2f | %.2f | %s |\n' "$n" "$t_cr" "$(echo "$n/$t_cr" | bc -l)" \
    "$t_ps" "$(echo "$n/$t_ps" | bc -l)" "$(echo "$t_ps/$t_cr" | bc -l)" "$t_po" "$(echo "$t_po/$t_cr" | bc -l)" "$(rss /tmp/cr-bench-cr.log)"
done
[ -n "${KEEP:-}" ] || psql "$admin" -X -q -c "DROP DATABASE IF EXISTS $db" > /dev/null

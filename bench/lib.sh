# Shared by the benchmark scripts (`source bench/lib.sh`): GNU time reports and median runs.

# Wall-clock seconds and peak RSS (MiB) from a `/usr/bin/time -v` report.
secs() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$1"; }

# median3 LOG CMD...: run CMD three times under GNU time, its stdout to $OUT (default
# /dev/null); leave the median run's report in LOG.
median3() {
  local log=$1; shift
  for k in 1 2 3; do /usr/bin/time -v "$@" > "${OUT:-/dev/null}" 2> "$log.$k"; done
  local mid
  mid=$(for k in 1 2 3; do echo "$(secs "$log.$k") $k"; done | sort -n | sed -n 2p | cut -d' ' -f2)
  cp "$log.$mid" "$log"
}

# fill_sessions HOST DATABASE N START_US STEP_US: N rows into DATABASE.ai_audit_events (created
# by `compliance-report db init`), one every STEP_US microseconds from START_US, shaped like
# GitLab's: 120 users acting through a service account, sessions of 8 rows (started with an
# authorization 2 s before, plan, 2 resources, 3 token usages, completed), JSON details.
fill_sessions() {
  clickhouse-client --host "$1" --query "INSERT INTO $2.ai_audit_events
    SELECT number AS id,
      toInt64($4 + number * $5 + number % 1000) AS created_at,
      lower(hex(MD5(toString(number)))) AS cloud_event_id,
      5000 AS author_id, toNullable(toInt64(100 + intDiv(number, 8) % 12)) AS project_id, NULL AS namespace_id,
      ['duo_flow_started','duo_flow_plan_generated','duo_flow_resource_created','duo_flow_token_usage',
       'duo_flow_token_usage','duo_flow_resource_created','duo_flow_token_usage','duo_flow_completed'][1 + number % 8] AS event_name,
      toNullable(concat('10.20.', toString(intDiv(number, 8) % 120), '.1')) AS ip_address,
      toNullable(toInt64(intDiv(number, 8))) AS workflow_id,
      concat('{\"session_id\":\"', lower(hex(MD5(toString(intDiv(number, 8))))), '\",\"flow_type\":\"software_development\",',
        '\"user\":{\"id\":', toString(1000 + intDiv(number, 8) % 120), ',\"username\":\"user', toString(intDiv(number, 8) % 120), '\"},',
        '\"author_user_type\":\"service_account\",\"composite_identity\":true,\"correlation_id\":\"', lower(hex(MD5(toString(number)))), '\",',
        if(number % 8 = 0, concat('\"authorization_verified_at\":\"',
          formatDateTime(toDateTime(intDiv($4 + number * $5, 1000000) - 2, 'UTC'), '%Y-%m-%dT%H:%M:%SZ'),
          '\",\"authorization_method\":\"oauth_composite_identity\",\"authorized_scopes\":[\"api\",\"read_repository\"],',
          '\"input_summary\":\"Fix the failing pipeline in project ', toString(intDiv(number, 8) % 12), '\",'), ''),
        if(number % 8 IN (3, 4, 6), concat('\"input_tokens\":', toString(number % 9000), ',\"output_tokens\":', toString(number % 900), ','), ''),
        '\"model_provider\":\"anthropic\",\"model_engine\":\"claude-sonnet-4-5\",',
        '\"entity_path\":\"acme/payments/api\",\"author_name\":\"duo-developer-sa\"}') AS details
    FROM system.numbers LIMIT $3"
}

# demo_data BIN DIR SCALE: generated demo data (gzip NDJSON, seed 7) in DIR, unless already there.
demo_data() {
  if [ ! -f "$2/truth.json" ]; then
    mkdir -p "$2"
    "$1" -q demo generate --out "$2" --scale "$3" --seed 7 --gzip
  fi
}

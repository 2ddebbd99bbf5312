#!/usr/bin/env bash
# Fill DATABASE.ai_audit_events (created by `compliance-report db init`) with N generated rows:
# the shape of bench/postgres.sh's rows (a row every 5 s from 2025-01-01, 120 actors, eight rows
# per session, ~420-byte JSON details). Usage: bash bench/ch_fill.sh DATABASE N [HOST]
set -euo pipefail
db=$1 n=$2 host=${3:-127.0.0.1}
ch() { clickhouse-client --host "$host" --query "$1"; }
  ch "INSERT INTO $db.ai_audit_events
    SELECT number AS id,
      toInt64(1735689600000000 + number * 5000000 + number % 1000) AS created_at,
      lower(hex(MD5(toString(number)))) AS cloud_event_id,
      1000 + number % 120 AS author_id, toNullable(toInt64(100 + number % 12)) AS project_id, NULL AS namespace_id,
      ['duo_flow_started','duo_flow_plan_generated','duo_flow_resource_created','duo_flow_token_usage','duo_flow_completed'][1 + number % 5] AS event_name,
      toNullable(concat('10.20.', toString(number % 250), '.', toString(number % 200))) AS ip_address,
      toNullable(toInt64(intDiv(number, 8))) AS workflow_id,
      concat('{\"session_id\":\"', lower(hex(MD5(toString(intDiv(number, 8))))), '\",\"flow_type\":\"software_development\",',
        '\"user\":{\"id\":', toString(1000 + number % 120), ',\"username\":\"user', toString(number % 120), '\"},',
        '\"author_user_type\":\"service_account\",\"correlation_id\":\"', lower(hex(MD5(toString(number)))), '\",',
        '\"input_tokens\":', toString(number % 9000), ',\"output_tokens\":', toString(number % 900), ',',
        '\"model_provider\":\"anthropic\",\"model_engine\":\"claude-sonnet-4-5\",',
        '\"entity_path\":\"acme/payments/api\",\"author_name\":\"duo-developer-sa\"}') AS details
    FROM system.numbers LIMIT $n"

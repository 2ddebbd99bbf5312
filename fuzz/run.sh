#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 600), two at a time, then minimize each
# corpus. Corpora live in fuzz/corpus/TARGET (kept in git), inputs that once failed in
# fuzz/regressions/TARGET (kept), new crashes in fuzz/artifacts/TARGET.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Usage: bash fuzz/run.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ndjson_line details_yaml cef_roundtrip syslog_frame)

# Seeds: real lines and values from the fixtures.
seed() { # target file-of-seeds-one-per-line
  local dir=fuzz/corpus/$1
  mkdir -p "$dir"
  if [ -z "$(ls -A "$dir")" ]; then
    local i=0
    while IFS= read -r line; do
      printf '%s' "$line" > "$dir/seed-$i"
      i=$((i + 1))
    done < "$2"
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in fixtures/demo/events/*.gz; do zcat "$f" | head -n 50; done > "$tmp/lines" 2> /dev/null || true
python3 - "$tmp" <<'PY'
import json, sys, tomllib
tmp = sys.argv[1]
cases = tomllib.load(open("fixtures/bad/cases.toml", "rb"))["case"]
with open(f"{tmp}/lines", "a") as f:
    for c in cases:
        for line in (c.get("text") or "").splitlines():
            if line.strip():
                f.write(line + "\n")
with open(f"{tmp}/yaml", "w") as f:
    for doc in [":event_name: x\\n:nested:\\n  :k: v", "a: &a [x, x]\\nb: [*a, *a]", "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\\nk: 1", "{\"json\": [1, 2]}"]:
        f.write(doc + "\n")
with open(f"{tmp}/text", "w") as f:
    for c in cases:
        f.write(json.dumps(c.get("text") or "")[1:-1][:400] + "\n")
PY
seed ndjson_line "$tmp/lines"
seed details_yaml "$tmp/yaml"
seed cef_roundtrip "$tmp/text"
seed syslog_frame "$tmp/text"

# Without AddressSanitizer: the code is safe Rust, and an instrumented build of polars & co.
# takes far longer; libFuzzer still catches panics, timeouts and memory blow-ups.
flags=(--sanitizer none --release)
cargo +nightly fuzz build "${flags[@]}"
status=0
run() {
  mkdir -p "fuzz/regressions/$1"
  # fuzz/regressions/TARGET: inputs that once failed (read as seeds, never minimized away).
  cargo +nightly fuzz run "${flags[@]}" "$1" "fuzz/corpus/$1" "fuzz/regressions/$1" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -timeout=10 > "fuzz/$1.log" 2>&1 || { echo "$1: FAILED (see fuzz/$1.log and fuzz/artifacts/$1)"; return 1; }
  echo "$1: $(grep -o 'Done [0-9]* runs' "fuzz/$1.log" | grep -o '[0-9][0-9]*' || echo '?') runs in ${secs} s, no crash"
}
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[$i]}" & a=$!
  b=
  if [ $((i + 1)) -lt ${#targets[@]} ]; then run "${targets[$((i + 1))]}" & b=$!; fi
  wait $a || status=1
  [ -z "$b" ] || wait $b || status=1
done
for t in "${targets[@]}"; do
  cargo +nightly fuzz cmin "${flags[@]}" "$t" "fuzz/corpus/$t" > /dev/null 2>&1 || true
done
exit $status

#!/usr/bin/env bash
# The hash chain: the cost of linking in an export, and verify-chain over the exported file.
# A generated demo dataset (scale 15 ≈ 1M events, 150 ≈ 10M, over 90 days, gzip NDJSON) is
# exported to a CEF file once with and once without the chain, then verified (and a shuffled
# copy: a SIEM's order).
# Prints time and peak RSS of each step.
# Usage: bash bench/chain.sh [SCALE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
scale=${1:-15}
work=${2:-${TMPDIR:-/tmp}/compliance-report-bench}/chain-x$scale
cargo build --release --quiet
bin=target/release/compliance-report
mkdir -p "$work"
demo_data "$bin" "$work/data" "$scale"
row() { printf '| %s | %s | %.1f | %s |\n' "$1" "$2" "$(secs "$3")" "$(rss "$3")"; }
echo "| step | records | seconds | peak RSS (MiB) |"
echo "|---|---:|---:|---:|"
# Both into a file (fsynced per batch), so the difference is the chain.
/usr/bin/time -v "$bin" -q export --source "$work/data/events" --format cef --no-chain --output "$work/plain.cef" 2> "$work/plain.log"
rm -f "$work/plain.cef"
/usr/bin/time -v "$bin" -q export --source "$work/data/events" --format cef --output "$work/events.cef" 2> "$work/export.log"
n=$(wc -l < "$work/events.cef")
row "export to CEF, --no-chain" "$n" "$work/plain.log"
row "export to CEF with the chain" "$n" "$work/export.log"
/usr/bin/time -v "$bin" verify-chain "$work/events.cef" > "$work/verify.out" 2> "$work/verify.log"
row "verify-chain" "$n" "$work/verify.log"
shuf "$work/events.cef" > "$work/shuffled.cef"
/usr/bin/time -v "$bin" verify-chain "$work/shuffled.cef" > "$work/verify-shuffled.out" 2> "$work/verify-shuffled.log"
row "verify-chain, lines shuffled" "$n" "$work/verify-shuffled.log"
tail -1 "$work/verify.out"
rm -f "$work/events.cef" "$work/shuffled.cef"

#!/usr/bin/env bash
# The floor under reading generated demo data (gzip NDJSON, 90 days): the CPU time to
# decompress and split every line, to check its JSON syntax, and to build its JSON tree, on one
# thread with nothing else done (benches/ndjson_floor.rs). Divided by the cores, it bounds the
# wall time of any run that reads these files (`anomalies`, `report`) from below.
# Usage: bash bench/floor.sh [SCALE | DATA_DIR]
#   SCALE: the data of bench/anomalies.sh at that scale (default 150), generated if missing;
#   DATA_DIR: a directory written by `demo generate` (e.g. bench/report.sh's report-x43).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
arg=${1:-150}
if [ -d "$arg" ]; then
  work=$arg
else
  work=${TMPDIR:-/tmp}/compliance-report-bench/anomalies-x$arg
  cargo build --release --quiet
  demo_data target/release/compliance-report "$work" "$arg"
fi
cargo bench --quiet --bench ndjson_floor -- "$work/events"

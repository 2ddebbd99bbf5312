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

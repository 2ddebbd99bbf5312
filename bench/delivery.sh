#!/usr/bin/env bash
# 1M events (generated NDJSON) to syslog TCP (a local rsyslogd writing to a file) and to an HTTP
# collector on loopback (a Python server answering 200): events/s and peak RSS of the export.
# Usage: bash bench/delivery.sh [WORKDIR]   (needs rsyslogd and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
work=${1:-${TMPDIR:-/tmp}/compliance-report-delivery}
mkdir -p "$work"
cargo build --release --quiet
bin=$PWD/target/release/compliance-report
if [ ! -f "$work/data/truth.json" ]; then
  "$bin" -q demo generate --out "$work/data" --scale 16.5 --seed 11
fi
events=$("$bin" -q export --format cef --source "$work/data/events" | wc -l)

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rsyslog: TCP input, every message to a file.
sport=$(port)
cat > "$work/rsyslog.conf" <<CONF
global(workDirectory="$work" maxMessageSize="64k")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
input(type="imtcp" port="$sport" address="127.0.0.1")
*.* action(type="omfile" file="$work/received.log" template="raw")
CONF
rm -f "$work/received.log"
/usr/sbin/rsyslogd -n -f "$work/rsyslog.conf" -i "$work/rsyslogd.pid" & rpid=$!
# HTTP: a threaded server that reads each body and answers 200.
hport=$(port)
python3 - "$hport" > /dev/null 2>&1 <<'PY' & hpid=$!
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
trap 'kill $rpid $hpid 2>/dev/null || true' EXIT
sleep 2

echo "| output | events | seconds | events/s | peak RSS (MiB) |"
echo "|---|---:|---:|---:|---:|"
/usr/bin/time -v "$bin" -q export --format cef --source "$work/data/events" --output "syslog+tcp://127.0.0.1:$sport" --spool-dir "$work/spool" > /dev/null 2> "$work/time-syslog.log"
for _ in $(seq 1 60); do [ "$(wc -l < "$work/received.log")" -ge "$events" ] && break; sleep 1; done
got=$(wc -l < "$work/received.log")
[ "$got" = "$events" ] || { echo "rsyslog received $got of $events" >&2; exit 1; }
t=$(secs "$work/time-syslog.log"); printf '| syslog TCP (octet counting), CEF | %d | %.2f | %.0f | %s |\n' "$events" "$t" "$(echo "$events/$t" | bc -l)" "$(rss "$work/time-syslog.log")"
/usr/bin/time -v "$bin" -q export --format json --source "$work/data/events" --output "http://127.0.0.1:$hport/ingest" --spool-dir "$work/spool" > /dev/null 2> "$work/time-http.log"
t=$(secs "$work/time-http.log"); printf '| HTTP NDJSON (2,000-event batches) | %d | %.2f | %.0f | %s |\n' "$events" "$t" "$(echo "$events/$t" | bc -l)" "$(rss "$work/time-http.log")"
/usr/bin/time -v "$bin" -q export --format json --source "$work/data/events" --output "http://127.0.0.1:$hport/ingest" --http-gzip --spool-dir "$work/spool" > /dev/null 2> "$work/time-httpgz.log"
t=$(secs "$work/time-httpgz.log"); printf '| HTTP NDJSON, gzip | %d | %.2f | %.0f | %s |\n' "$events" "$t" "$(echo "$events/$t" | bc -l)" "$(rss "$work/time-httpgz.log")"

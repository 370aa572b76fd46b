#!/usr/bin/env bash
# The server section of `make bench`: rdb-bench against rdb-server (--fsync always) on loopback,
# 100-byte payloads, single-event appends at 1, 16 and 64 clients, batched appends (100 events per
# request, the key varying between requests), and a fixed-rate run at half the 64-client
# saturation rate (p99 target <= 10 ms); each through unary Append calls and through AppendStream.
# Prints the settings and one table.
# Usage: bench/server.sh BUILD_DIR   (SYNC_SECONDS=... overrides the 10 s per run; RESULTS=FILE keeps
# the raw results, one "label {json}" line per run)
# bench/peers.sh runs this beside PostgreSQL and Redis Streams and prints the side-by-side table.
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
work=$(mktemp -d /tmp/rdb-server-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$build/tools/rdb-server" --data-dir "$work/data" --port "$port" --fsync always \
  --trace-level warn 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  "$build/tools/rdb-client" --server "127.0.0.1:$port" --timeout 1 status >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== rdb-server (fsync always) on 127.0.0.1:$port, payload 100 B, random keys over 100000, ${secs}s per run"
bench() {  # label, args...
  local label=$1; shift
  echo "-- rdb-bench $*" >&2
  "$build/tools/rdb-bench" --server "127.0.0.1:$port" --payload-bytes 100 --duration "$secs" \
    --json "$@" | sed "s/^/$label /" >> "$work/results.txt"
}
# Unary: one Append call per request. Stream: one AppendStream per client, one append in flight on
# each (still one event per request, acknowledged on its own), the streams sharing one connection
# per 16 clients.
half_of() {  # the label's requests/s, halved
  grep "^$1 " "$work/results.txt" | sed "s/^$1 //" |
    python3 -c 'import json,sys; print(int(json.load(sys.stdin)["requests_per_sec"] / 2))'
}
bench single-1 --workload append --clients 1
bench single-16 --workload append --clients 16
bench single-64 --workload append --clients 64
bench stream-1 --workload append --clients 1 --api stream
bench stream-16 --workload append --clients 16 --api stream
bench stream-64 --workload append --clients 64 --api stream
# The half-rate runs before the batched ones, whose 10+ million events keep compaction busy for a
# while after they end (a run right after them measures that, not the API).
bench half-rate-64 --workload append --clients 64 --rate "$(half_of single-64)"
bench stream-half-rate-64 --workload append --clients 64 --api stream --rate "$(half_of stream-64)"
bench batch100-16 --workload append --clients 16 --batch 100
bench stream-batch100-16 --workload append --clients 16 --batch 100 --api stream

python3 - "$work/results.txt" <<'PY'
import json, sys
print(f"{'run':<20} {'clients':>7} {'batch':>5} {'rate':>8} {'events/s':>10} {'req/s':>9} "
      f"{'p50 ms':>7} {'p99 ms':>7} {'p999 ms':>8} {'max ms':>7} {'errors':>6}")
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    r = json.loads(js)
    l = r["latency_us"]
    rate = f"{r['rate']:.0f}" if r["rate"] else "max"
    print(f"{label:<20} {r['clients']:>7} {r['batch']:>5} {rate:>8} {r['events_per_sec']:>10.0f} "
          f"{r['requests_per_sec']:>9.0f} {l['p50']/1000:>7.2f} {l['p99']/1000:>7.2f} "
          f"{l['p999']/1000:>8.2f} {l['max']/1000:>7.2f} {sum(r['errors'].values()):>6}")
PY
if [ -n "${RESULTS:-}" ]; then cp "$work/results.txt" "$RESULTS"; fi

#!/usr/bin/env bash
# The change data capture section of `make bench`: rdb-bench's subscribe workloads against an
# rdb-server (--fsync always) on a free loopback port, data under mktemp -d:
#   - catch-up: 1M stored events (100 B payloads, 4096 keys, preloaded 100 per request over 4
#     connections), events/s and MB/s delivered to ONE subscriber from EARLIEST;
#   - live: 0 (CPU baseline), 1 and 100 subscribers (50 streams per connection) while 64 writers
#     append single events at a fixed 10,000 events/s (open loop), then 1 and 100 subscribers with
#     16 writers as fast as they can; latency = subscriber receipt - append acknowledgement, in the
#     same process on steady_clock; the server's CPU from /proc/PID/stat.
# Prints the machine, the settings, one table and the targets (docs/benchmarks.md).
# Usage: bench/cdc.sh BUILD_DIR   (SYNC_SECONDS=... overrides the 10 s per live run; CDC_EVENTS=...
# the 1M catch-up events; RESULTS=FILE keeps the raw results, one "label {json}" line per run)
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
events=${CDC_EVENTS:-1000000}
rate=10000
for tool in "$build/tools/rdb-server" "$build/tools/rdb-client" "$build/tools/rdb-bench"; do
  if [ ! -x "$tool" ]; then
    echo "cdc.sh: $tool is missing (build $build first)" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/rdb-cdc-bench-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
  set +e
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$build/tools/rdb-server" --data-dir "$work/data" --port "$port" --fsync always \
  --trace-level warn 2>"$work/server.log" &
server_pid=$!
ready=""
for _ in $(seq 100); do
  if "$build/tools/rdb-client" --server "127.0.0.1:$port" --timeout 1 status >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "cdc.sh: rdb-server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

echo "== change data capture: rdb-server (fsync always) on 127.0.0.1:$port"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc), mem: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -hT "$work" | awk 'NR==2{print $1" "$2" "$3}'), kernel: $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg), date: $(date -u +%FT%TZ)"
echo "catch-up: $events events of 100 B over 4096 keys (preload: 100 per request, 4 connections), 1 subscriber from EARLIEST"
echo "live: ${secs}s per run, single-event appends of 100 B over 4096 keys, fixed rate $rate/s (64 writers, open loop) or max (16 writers); subscribers from LATEST, 50 streams per connection"

bench() {  # label, args...
  local label=$1; shift
  echo "-- rdb-bench $*" >&2
  local out rc=0
  out=$("$build/tools/rdb-bench" --server "127.0.0.1:$port" --server-pid "$server_pid" \
    --payload-bytes 100 --key-space 4096 --json "$@") || rc=$?
  if [ -z "$out" ]; then
    echo "cdc.sh: rdb-bench $label failed (exit $rc)" >&2
    exit 1
  fi
  # Exit 1 with a result = errors or missing changes: counted in the table's err column.
  echo "$label $out" >> "$work/results.txt"
}
bench catchup --workload subscribe-catchup --events "$events" --preload-batch 100 \
  --preload-clients 4 --subscribers 1
bench rate-0 --workload subscribe-live --subscribers 0 --clients 64 --rate "$rate" --duration "$secs"
bench rate-1 --workload subscribe-live --subscribers 1 --clients 64 --rate "$rate" --duration "$secs"
bench rate-100 --workload subscribe-live --subscribers 100 --clients 64 --rate "$rate" --duration "$secs"
bench max-1 --workload subscribe-live --subscribers 1 --clients 16 --duration "$secs"
bench max-100 --workload subscribe-live --subscribers 100 --clients 16 --duration "$secs"
echo "load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/results.txt" "$rate" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    rows[label] = json.loads(js)
rate = float(sys.argv[2])
def cores(v):
    return "-" if v is None else f"{v:.2f}"
c = rows["catchup"]
print()
print(f"catch-up: {c['changes']:,} changes in {c['seconds']:.2f} s = {c['events_per_sec']:,.0f} events/s, "
      f"{c['mb_per_sec']:.0f} MB/s (key+payload), {c['messages']} messages; server {cores(c['server_cpu_cores'])} "
      f"cores, rdb-bench {c['bench_cpu_cores']:.2f} cores; preload {c['preload_events_per_sec']:,.0f} events/s")
print()
print(f"{'run':<9} {'subs':>4} {'writers':>7} {'rate':>6} {'appended/s':>10} {'delivered/s':>11} "
      f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p999 ms':>8} {'max ms':>7} {'snd p99':>8} "
      f"{'srv cores':>9} {'bench':>6} {'err':>4}")
for label, r in rows.items():
    if label == "catchup":
        continue
    l = r["latency_us"]
    e = r["send_to_receipt_us"]
    ms = lambda v: f"{v/1000:.2f}" if l["count"] else "-"
    rt = f"{r['rate']:.0f}" if r["rate"] else "max"
    errs = sum(r["errors"].values()) + r["missing"]
    print(f"{label:<9} {r['subscribers']:>4} {r['writers']:>7} {rt:>6} {r['events_per_sec']:>10,.0f} "
          f"{r['delivered_per_sec']:>11,.0f} {ms(l['p50']):>7} {ms(l['p90']):>7} {ms(l['p99']):>7} "
          f"{ms(l['p999']):>8} {ms(l['max']):>7} {(e['p99']/1000 if e['count'] else 0):>8.2f} "
          f"{cores(r['server_cpu_cores']):>9} {r['bench_cpu_cores']:>6.2f} {errs:>4}")
print("latency = subscriber receipt - append acknowledgement (0 when the change arrived before the "
      "writer saw its ack); snd p99 = from the append's send instead")
print()
r100, r0 = rows["rate-100"], rows["rate-0"]
def verdict(ok):
    return "met" if ok else "MISSED"
ok_c = c["events_per_sec"] >= 1e6
print(f"target catch-up >= 1,000,000 events/s: {c['events_per_sec']:,.0f} -> {verdict(ok_c)}")
reached = r100["events_per_sec"] >= 0.95 * rate
p99 = r100["latency_us"]["p99"] / 1000
note = "" if reached else f" (only {r100['events_per_sec']:,.0f} events/s appended, not {rate:,.0f})"
print(f"target live p99 <= 5 ms at {rate:,.0f} events/s, 100 subscribers: {p99:.2f} ms{note} -> "
      f"{verdict(p99 <= 5 and reached)}")
if r100["server_cpu_cores"] is not None and r0["server_cpu_cores"] is not None:
    extra = r100["server_cpu_cores"] - r0["server_cpu_cores"] * r100["events_per_sec"] / max(r0["events_per_sec"], 1)
    print(f"target server CPU for 100 subscribers at {rate:,.0f} events/s <= 1 core: "
          f"{r100['server_cpu_cores']:.2f} cores in all{note}, ~{extra:.2f} above appends alone "
          f"(0 subscribers: {r0['server_cpu_cores']:.2f} cores at {r0['events_per_sec']:,.0f} events/s, "
          f"scaled) -> {verdict(r100['server_cpu_cores'] <= 1 and reached)}")
PY
if [ -n "${RESULTS:-}" ]; then cp "$work/results.txt" "$RESULTS"; fi

#!/usr/bin/env bash
# The change data capture section of `make bench`: rdb-bench's subscribe workloads against an
# rdb-server (--fsync always) on a free loopback port, data under mktemp -d:
#   - catch-up: 1M stored events (100 B payloads, 4096 keys, preloaded 100 per request over 4
#     connections), events/s and MB/s delivered to ONE subscriber from EARLIEST;
#   - live: 0 (CPU baseline), 1 and 100 subscribers (50 streams per connection) while 64 writers
#     append single events at a fixed 10,000 events/s (open loop), then 1 and 100 subscribers with
#     16 writers as fast as they can; latency = subscriber receipt - append acknowledgement, in the
#     same process on steady_clock; the server's CPU from /proc/PID/stat;
#   - live, batched: 0 and 100 subscribers while 16 writers offer the same 10,000 events/s as
#     requests of 10 events to one key (1,000 requests/s, open loop); latency per event, from the
#     acknowledgement of its request to its receipt.
# Then the same rows against etcd's watch (bench/peers.sh's durable single-member etcd 3.4, on free
# loopback ports, data under the same mktemp -d): catch-up = CDC_ETCD_EVENTS puts preloaded as Txns
# of 100 puts over 16 connections, then ONE watcher on the prefix from the first preload revision;
# live = watchers on the prefix while the writers Put single keys (latency matched by revision).
# Prints the machine, the settings, one table per system, a side-by-side table and the targets
# (docs/benchmarks.md).
# Usage: bench/cdc.sh BUILD_DIR   (SYNC_SECONDS=... overrides the 10 s per live run; CDC_EVENTS=...
# the 1M catch-up events; CDC_ETCD_EVENTS=... etcd's catch-up puts (default: the same; etcd preloads
# ~45k puts/s on a 2-core VM, ~22 s for 1M: lower it if that is too slow); CDC_ETCD=0 skips etcd;
# RESULTS=FILE keeps the raw results, one "label {json}" line per run; CDC_PERF=FILE repeats the
# 100-subscriber single-event run at the end with `perf record -g` on rdb-server into FILE, as row
# rate-100-perf)
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
events=${CDC_EVENTS:-1000000}
etcd_events=${CDC_ETCD_EVENTS:-$events}
with_etcd=${CDC_ETCD:-1}
rate=10000
tools=("$build/tools/rdb-server" "$build/tools/rdb-client" "$build/tools/rdb-bench")
if [ "$with_etcd" != 0 ]; then tools+=(etcd etcdctl); fi
for tool in "${tools[@]}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "cdc.sh: $tool is missing (bash scripts/install-deps.sh; build $build first)" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/rdb-cdc-bench-XXXXXX)
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
server_pid=""
etcd_pid=""
cleanup() {
  set +e
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  if [ -n "$etcd_pid" ]; then kill -TERM "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; fi
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
echo "live: ${secs}s per run, single-event appends of 100 B over 4096 keys, fixed rate $rate/s (64 writers, open loop) or max (16 writers); b10 rows: the same $rate events/s as requests of 10 events to one key (16 writers, $((rate / 10)) requests/s); subscribers from LATEST, 50 streams per connection (gRPC callback reader)"

bench_target=(--server "127.0.0.1:$port")
bench_pid=""
bench() {  # label, args...
  local label=$1; shift
  echo "-- rdb-bench ${bench_target[*]} $*" >&2
  local out rc=0
  out=$("$build/tools/rdb-bench" "${bench_target[@]}" --server-pid "$bench_pid" \
    --payload-bytes 100 --key-space 4096 --json "$@") || rc=$?
  if [ -z "$out" ]; then
    echo "cdc.sh: rdb-bench $label failed (exit $rc)" >&2
    exit 1
  fi
  # Exit 1 with a result = errors or missing changes: counted in the table's err column.
  echo "$label $out" >> "$work/results.txt"
}
bench_pid=$server_pid
bench catchup --workload subscribe-catchup --events "$events" --preload-batch 100 \
  --preload-clients 4 --subscribers 1
bench rate-0 --workload subscribe-live --subscribers 0 --clients 64 --rate "$rate" --duration "$secs"
bench rate-1 --workload subscribe-live --subscribers 1 --clients 64 --rate "$rate" --duration "$secs"
bench rate-100 --workload subscribe-live --subscribers 100 --clients 64 --rate "$rate" --duration "$secs"
bench max-1 --workload subscribe-live --subscribers 1 --clients 16 --duration "$secs"
bench max-100 --workload subscribe-live --subscribers 100 --clients 16 --duration "$secs"
bench rate-0-b10 --workload subscribe-live --subscribers 0 --clients 16 --batch 10 --rate "$rate" \
  --duration "$secs"
bench rate-100-b10 --workload subscribe-live --subscribers 100 --clients 16 --batch 10 \
  --rate "$rate" --duration "$secs"
if [ -n "${CDC_PERF:-}" ]; then
  perf record -g -o "$CDC_PERF" -p "$server_pid" 2>"$work/perf.log" &
  perf_pid=$!
  sleep 0.5
  bench rate-100-perf --workload subscribe-live --subscribers 100 --clients 64 --rate "$rate" \
    --duration "$secs"
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  echo "perf: $(tail -1 "$work/perf.log")"
fi
echo "load after the RDeeBee runs: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
server_pid=""

if [ "$with_etcd" != 0 ]; then
  # bench/peers.sh's etcd: durable (WAL fsynced before every acknowledgement; 3.4 has no switch to
  # turn that off), 3.4's defaults except the backend quota.
  eport=$(free_port)
  epeer=$(free_port)
  etcd_settings="--quota-backend-bytes=8589934592 --snapshot-count=100000 --heartbeat-interval=100 --election-timeout=1000 --max-txn-ops=128 --max-request-bytes=1572864 --auto-compaction-retention=0"
  # shellcheck disable=SC2086
  etcd --name bench --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$eport" --advertise-client-urls "http://127.0.0.1:$eport" \
    --listen-peer-urls "http://127.0.0.1:$epeer" --initial-advertise-peer-urls "http://127.0.0.1:$epeer" \
    --initial-cluster "bench=http://127.0.0.1:$epeer" --initial-cluster-state new \
    --logger zap --log-outputs stderr --log-level warn $etcd_settings 2>"$work/etcd.log" &
  etcd_pid=$!
  etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$eport" --command-timeout 60s "$@"; }
  for _ in $(seq 100); do etcdctl_ endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
  if ! etcdctl_ endpoint health >/dev/null 2>&1; then
    echo "cdc.sh: etcd did not start; its log:" >&2; cat "$work/etcd.log" >&2; exit 1
  fi
  echo
  echo "== etcd $(etcd --version | awk '/etcd Version/{print $3}') watch on 127.0.0.1:$eport (rdb-bench --target etcd: our C++ etcd client; one Watcher thread per watch stream)"
  echo "settings: $etcd_settings; WAL fsync before every acknowledgement"
  echo "catch-up: $etcd_events puts of 100 B (preload: Txns of 100 puts to <key>/000..099 over 4096 keys, 16 connections), 1 watcher on the prefix from the first preload revision"
  echo "live: the same rows; single-key Puts; watchers on the prefix from the current revision, 50 per connection"
  bench_target=(--target etcd --server "127.0.0.1:$eport")
  bench_pid=$etcd_pid
  bench etcd-catchup --workload subscribe-catchup --events "$etcd_events" --preload-batch 100 \
    --preload-clients 16 --subscribers 1
  # Each run starts from an empty keyspace (the watch catch-up's history compacted away).
  rev=$(etcdctl_ del "" --from-key -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  etcdctl_ compact "$rev" >/dev/null 2>&1 || true
  etcdctl_ defrag >/dev/null
  bench etcd-rate-0 --workload subscribe-live --subscribers 0 --clients 64 --rate "$rate" --duration "$secs"
  bench etcd-rate-1 --workload subscribe-live --subscribers 1 --clients 64 --rate "$rate" --duration "$secs"
  bench etcd-rate-100 --workload subscribe-live --subscribers 100 --clients 64 --rate "$rate" --duration "$secs"
  bench etcd-max-1 --workload subscribe-live --subscribers 1 --clients 16 --duration "$secs"
  bench etcd-max-100 --workload subscribe-live --subscribers 100 --clients 16 --duration "$secs"
  echo "load after the etcd runs: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

python3 - "$work/results.txt" "$rate" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    rows[label] = json.loads(js)
rate = float(sys.argv[2])
def cores(v):
    return "-" if v is None else f"{v:.2f}"
def catchup_line(name, c):
    print(f"{name} catch-up: {c['changes']:,} changes in {c['seconds']:.2f} s = {c['events_per_sec']:,.0f} events/s, "
          f"{c['mb_per_sec']:.0f} MB/s (key+payload), {c['messages']} messages; server {cores(c['server_cpu_cores'])} "
          f"cores, rdb-bench {c['bench_cpu_cores']:.2f} cores; preload {c['preload_events_per_sec']:,.0f} events/s"
          + ("" if not c["errors"] else f"; ERRORS {c['errors']}"))
print()
catchup_line("RDeeBee", rows["catchup"])
if "etcd-catchup" in rows:
    catchup_line("etcd", rows["etcd-catchup"])
print()
print(f"{'run':<14} {'subs':>4} {'writers':>7} {'batch':>5} {'rate':>6} {'appended/s':>10} {'delivered/s':>11} "
      f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p999 ms':>8} {'max ms':>7} {'snd p99':>8} "
      f"{'srv cores':>9} {'bench':>6} {'err':>4}")
for label, r in rows.items():
    if label.endswith("catchup"):
        continue
    l = r["latency_us"]
    e = r["send_to_receipt_us"]
    ms = lambda v: f"{v/1000:.2f}" if l["count"] else "-"
    rt = f"{r['rate']:.0f}" if r["rate"] else "max"
    errs = sum(r["errors"].values()) + r["missing"]
    print(f"{label:<14} {r['subscribers']:>4} {r['writers']:>7} {r.get('batch', 1):>5} {rt:>6} {r['events_per_sec']:>10,.0f} "
          f"{r['delivered_per_sec']:>11,.0f} {ms(l['p50']):>7} {ms(l['p90']):>7} {ms(l['p99']):>7} "
          f"{ms(l['p999']):>8} {ms(l['max']):>7} {(e['p99']/1000 if e['count'] else 0):>8.2f} "
          f"{cores(r['server_cpu_cores']):>9} {r['bench_cpu_cores']:>6.2f} {errs:>4}")
print("latency = subscriber receipt - append (put) acknowledgement (0 when the change arrived before the "
      "writer saw its ack); snd p99 = from the send instead; etcd rows: the same with etcd's watch; "
      "batch = events per append request (rate stays in events/s; latency per event, from its "
      "request's acknowledgement)")
print()
r100, r0 = rows["rate-100"], rows["rate-0"]
if "etcd-catchup" in rows:
    print("side by side (RDeeBee | etcd watch):")
    print(f"{'row':<34} {'RDeeBee':>24} {'etcd':>24}")
    def cu(c):
        return f"{c['events_per_sec']:,.0f} ev/s ({c['changes']//1000:,}k)"
    print(f"{'catch-up events/s (events)':<34} {cu(rows['catchup']):>24} {cu(rows['etcd-catchup']):>24}")
    def lat(r):
        l = r["latency_us"]
        if not l["count"]:
            return "-"
        return f"{l['p50']/1000:.2f}/{l['p99']/1000:.2f}/{l['max']/1000:.1f}"
    for label, name in (("rate-1", "10k/s, 1 sub"), ("rate-100", "10k/s, 100 subs"),
                        ("max-1", "max, 1 sub"), ("max-100", "max, 100 subs")):
        a, b = rows[label], rows.get("etcd-" + label)
        print(f"{name + ' p50/p99/max ms':<34} {lat(a):>24} {(lat(b) if b else '-'):>24}")
        print(f"{'  appended/s':<34} {a['events_per_sec']:>24,.0f} {(b['events_per_sec'] if b else 0):>24,.0f}")
    if "rate-100-b10" in rows:
        a = rows["rate-100-b10"]
        print(f"{'10k/s in 10-event requests, 100 subs':<34} {lat(a):>24} {'(not run)':>24}")
        print(f"{'  appended/s':<34} {a['events_per_sec']:>24,.0f} {'':>24}")
    print()
def verdict(ok):
    return "met" if ok else "MISSED"
c = rows["catchup"]
ok_c = c["events_per_sec"] >= 1e6
print(f"target catch-up >= 1,000,000 events/s: {c['events_per_sec']:,.0f} -> {verdict(ok_c)}")
def targets(r100, r0, how):
    reached = r100["events_per_sec"] >= 0.95 * rate
    p99 = r100["latency_us"]["p99"] / 1000
    note = "" if reached else f" (only {r100['events_per_sec']:,.0f} events/s appended, not {rate:,.0f})"
    print(f"target live p99 <= 5 ms at {rate:,.0f} events/s, 100 subscribers, {how}: {p99:.2f} ms{note} -> "
          f"{verdict(p99 <= 5 and reached)}")
    if r100["server_cpu_cores"] is not None and r0["server_cpu_cores"] is not None:
        extra = r100["server_cpu_cores"] - r0["server_cpu_cores"] * r100["events_per_sec"] / max(r0["events_per_sec"], 1)
        print(f"target server CPU for 100 subscribers at {rate:,.0f} events/s <= 1 core, {how}: "
              f"{r100['server_cpu_cores']:.2f} cores in all{note}, ~{extra:.2f} above appends alone "
              f"(0 subscribers: {r0['server_cpu_cores']:.2f} cores at {r0['events_per_sec']:,.0f} events/s, "
              f"scaled) -> {verdict(r100['server_cpu_cores'] <= 1 and reached)}")
targets(r100, r0, "single-event appends")
if "rate-100-b10" in rows and "rate-0-b10" in rows:
    targets(rows["rate-100-b10"], rows["rate-0-b10"], "appends of 10 events")
PY
if [ -n "${RESULTS:-}" ]; then cp "$work/results.txt" "$RESULTS"; fi

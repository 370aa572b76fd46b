#!/usr/bin/env bash
# The merged change feed section of `make bench` (issue 7, docs/design/merged-feed.md): in cluster
# mode Subscribe on any node streams every group's changes merged in global seq order. On the
# cluster of scripts/cluster.sh (a real etcd and 2 groups x 3 rdb-servers, reads 2, writes 2,
# fsync always; free loopback ports, data under mktemp -d), rdb-bench's subscribe workloads with
# the writers sent to each key's leader 1 (--route-groups) and ONE subscriber on a follower of
# group 0 (--subscribe-server):
#   - catch-up: MERGED_EVENTS (200k) events of 100 B over 4096 keys of both groups (preload: 100 per
#     request, 4 connections), then the subscriber from EARLIEST: events/s;
#   - live: 64 writers at a fixed 10,000 events/s over both groups (open loop); latency =
#     subscriber receipt - append acknowledgement (steady_clock, one process), p50/p99;
#   - the same at MID_RATE (2,000) events/s (16 writers): a rate this shared 2-core machine sustains
#     for both clusters, so the comparison is not skewed by saturation;
#   - idle group: 4 writers at 200 events/s to keys of group 0 only (group 1 idle: its watermark
#     follows etcd's revision every watermark interval, 50 ms), beside the same 200 events/s over
#     both groups;
# then the cluster is stopped and a 1-group cluster (1 x 3) started the same way for the same
# 10,000 events/s live row: the feed of a single group, to show what merging adds.
# Prints the machine, the settings, the table and the targets (docs/benchmarks.md, "Merged feed").
# Usage: bench/merged-feed.sh BUILD_DIR   (SYNC_SECONDS=... the 10 s per live run; MERGED_EVENTS=...
# the catch-up events; IDLE_RATE=200; MID_RATE=2000; LEASE_TTL=2, REFRESH_INTERVAL=0.5; RESULTS=FILE keeps the raw
# results, one "label {json}" line per run)
# Everything runs on this one machine: etcd, the servers and the load generator share its cores.
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
events=${MERGED_EVENTS:-200000}
idle_rate=${IDLE_RATE:-200}
mid_rate=${MID_RATE:-2000}
lease_ttl=${LEASE_TTL:-2}
refresh=${REFRESH_INTERVAL:-0.5}
rate=10000
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
server="$build/tools/rdb-server"
client="$build/tools/rdb-client"
bench="$build/tools/rdb-bench"

for tool in etcd etcdctl python3 "$server" "$client" "$bench"; do
  if ! command -v "$tool" >/dev/null; then
    echo "merged-feed.sh: $tool is missing (bash scripts/install-deps.sh; build $build first)" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/rdb-merged-bench-XXXXXX)
cluster_pid=""
pids=()  # etcd and the nodes of the running cluster
stop_cluster() {
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid" 2>/dev/null  # scripts/cluster.sh stops its servers, then etcd
    for _ in $(seq 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2>/dev/null || true
  fi
  if [ -n "$cluster_pid" ]; then wait "$cluster_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  cluster_pid=""
  pids=()
}
cleanup() {
  set +e
  stop_cluster
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
: > "$work/results.txt"

free_base() {  # BASE_PORT such that BASE, BASE+1 and BASE+10..BASE+15 are free
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    b = random.randrange(20000, 60000, 20)
    if all(free(p) for p in [b, b + 1] + list(range(b + 10, b + 16))):
        print(b); break
PY
}
pid_of() {  # the pid of the process whose command line contains "$1" (one of ours)
  local p
  p=$(pgrep -f -- "$1" | head -1)
  [ -n "$p" ] || { echo "merged-feed.sh: no process for '$1'" >&2; return 1; }
  echo "$p"
}
# start_cluster GROUPS: scripts/cluster.sh with GROUPS x 3 nodes; sets base, m (the member map),
# lead0, lead1 (2 groups), foll0.
start_cluster() {
  local groups=$1 started="" data="$work/cluster$1"
  for _attempt in 1 2 3 4 5; do
    base=$(free_base)
    rm -rf "$data"
    CLUSTER_DATA="$data" BASE_PORT="$base" LEASE_TTL="$lease_ttl" REFRESH_INTERVAL="$refresh" \
      CLUSTER_GROUPS="$groups" GROUP_SIZE=3 READS=2 WRITES=2 TRACE_LEVEL=warn \
      bash "$root/scripts/cluster.sh" "$build" > "$work/cluster$groups.out" 2>&1 &
    cluster_pid=$!
    for _ in $(seq 600); do
      if grep -q "Ctrl-C stops the cluster" "$work/cluster$groups.out"; then started=1; break; fi
      kill -0 "$cluster_pid" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$started" ] && break
    if grep -q "is in use" "$work/cluster$groups.out"; then wait "$cluster_pid" || true; cluster_pid=""; continue; fi
    echo "merged-feed.sh: the cluster did not start:" >&2; cat "$work/cluster$groups.out" >&2
    tail -5 "$data"/*.log >&2 2>/dev/null || true
    exit 1
  done
  [ -n "$started" ] || { echo "merged-feed.sh: no free block of ports" >&2; exit 1; }
  pids+=("$(pid_of "--data-dir $data/etcd ")")
  for ((i = 0; i < groups * 3; i++)); do pids+=("$(pid_of "--data-dir $data/node$i --address")"); done
  local n1 n2
  for _ in $(seq 100); do
    m=$("$client" members --server "127.0.0.1:$((base + 10))" --json --timeout 2 2>/dev/null || true)
    n1=$(grep -c '"role":"leader1"' <<< "$m" || true)
    n2=$(grep -c '"role":"leader2"' <<< "$m" || true)
    [ "$n1" = "$groups" ] && [ "$n2" = "$groups" ] && break
    sleep 0.2
  done
  lead0=$(role_addr 0 leader1); foll0=$(role_addr 0 follower)
  lead1=""; [ "$groups" -ge 2 ] && lead1=$(role_addr 1 leader1)
  [ -n "$lead0" ] && [ -n "$foll0" ] && { [ "$groups" = 1 ] || [ -n "$lead1" ]; } ||
    { echo "merged-feed.sh: no leaders:"; echo "$m"; exit 1; } >&2
}
role_addr() {  # group, role -> address (first match)
  MEMBERS="$m" python3 -c '
import json, os, sys
for line in os.environ["MEMBERS"].splitlines():
    j = json.loads(line)
    if j["group"] == int(sys.argv[1]) and j["role"] == sys.argv[2]:
        print(j["address"]); break' "$1" "$2"
}

run() {  # label, rdb-bench args...
  local label=$1 out rc=0
  shift
  echo "-- rdb-bench $*" >&2
  out=$("$bench" --payload-bytes 100 --key-space 4096 --json "$@") || rc=$?
  if [ -z "$out" ]; then
    echo "merged-feed.sh: rdb-bench $label failed (exit $rc)" >&2
    exit 1
  fi
  # Exit 1 with a result = errors or missing changes: counted in the table's err column.
  echo "$label $out" >> "$work/results.txt"
}

start_cluster 2
echo "== merged change feed benchmark (issue 7): scripts/cluster.sh $build, etcd + 2 groups x 3 rdb-servers, then 1 x 3"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc), mem: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -hT "$work" | awk 'NR==2{print $1" "$2" "$3}'), kernel: $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg), date: $(date -u +%FT%TZ)"
echo "cluster.yaml: group_size 3, reads 2, writes 2; rdb-server --fsync always (default) --lease-ttl $lease_ttl --refresh-interval $refresh, watermark interval 50 ms (default), TRACE_LEVEL=warn; data under $work"
echo "ALL on this machine: etcd, the rdb-servers and the load generator share $(nproc) cores"
echo "writers: rdb-bench --route-groups (each append to its key's leader 1), single events of 100 B over 4096 keys; 1 subscriber on a follower of group 0 (--subscribe-server), gRPC callback reader"
echo "catch-up: $events events (preload: 100 per request, 4 connections), from EARLIEST; live: ${secs}s per run, $rate events/s (64 writers, open loop); idle: $idle_rate events/s (4 writers) to group 0's keys only, or over both groups; mid: $mid_rate events/s (16 writers)"
echo "2 groups: leaders 1 $lead0 (group 0), $lead1 (group 1); subscriber on $foll0"
two=(--server "$lead0,$lead1" --route-groups --subscribe-server "$foll0")
run catchup-2g "${two[@]}" --workload subscribe-catchup --events "$events" --preload-batch 100 \
  --preload-clients 4 --subscribers 1
run live-2g "${two[@]}" --workload subscribe-live --subscribers 1 --clients 64 --rate "$rate" --duration "$secs"
run mid-2g "${two[@]}" --workload subscribe-live --subscribers 1 --clients 16 --rate "$mid_rate" --duration "$secs"
run idle-2g "${two[@]}" --workload subscribe-live --subscribers 1 --clients 4 --rate "$idle_rate" \
  --duration "$secs" --only-group 0
run low-2g "${two[@]}" --workload subscribe-live --subscribers 1 --clients 4 --rate "$idle_rate" \
  --duration "$secs"
echo "load after the 2-group runs: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_cluster

start_cluster 1
echo "1 group: leader 1 $lead0; subscriber on $foll0"
one=(--server "$lead0" --route-groups --subscribe-server "$foll0")
run live-1g "${one[@]}" --workload subscribe-live --subscribers 1 --clients 64 --rate "$rate" --duration "$secs"
run mid-1g "${one[@]}" --workload subscribe-live --subscribers 1 --clients 16 --rate "$mid_rate" --duration "$secs"
run low-1g "${one[@]}" --workload subscribe-live --subscribers 1 --clients 4 --rate "$idle_rate" \
  --duration "$secs"
echo "load after the 1-group runs: $(cut -d' ' -f1-3 /proc/loadavg)"
stop_cluster

python3 - "$work/results.txt" "$rate" "$idle_rate" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    rows[label] = json.loads(js)
rate, idle_rate = float(sys.argv[2]), float(sys.argv[3])
c = rows["catchup-2g"]
print()
print(f"catch-up, 2 groups merged: {c['changes']:,} changes in {c['seconds']:.2f} s = {c['events_per_sec']:,.0f} events/s, "
      f"{c['mb_per_sec']:.0f} MB/s (key+payload), {c['messages']} messages, first change after {c['first_change_ms']:.1f} ms; "
      f"rdb-bench {c['bench_cpu_cores']:.2f} cores; preload {c['preload_events_per_sec']:,.0f} events/s"
      + ("" if not c["errors"] else f"; ERRORS {c['errors']}"))
print()
names = {"live-2g": "2 groups, merged", "live-1g": "1 group", "idle-2g": "2 groups, group 1 idle",
         "low-2g": "2 groups, both busy", "low-1g": "1 group",
         "mid-1g": "1 group", "mid-2g": "2 groups, merged"}
print(f"{'run':<8} {'feed':<24} {'writers':>7} {'rate':>6} {'appended/s':>10} {'delivered/s':>11} "
      f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'p999 ms':>8} {'max ms':>7} {'append p99':>10} {'err':>4}")
for label in ("live-1g", "live-2g", "mid-1g", "mid-2g", "low-1g", "low-2g", "idle-2g"):
    r = rows.get(label)
    if r is None:
        continue
    l = r["latency_us"]
    ms = lambda v: f"{v/1000:.2f}" if l["count"] else "-"
    errs = sum(r["errors"].values()) + r["missing"]
    print(f"{label:<8} {names[label]:<24} {r['writers']:>7} {r['rate']:>6.0f} {r['events_per_sec']:>10,.0f} "
          f"{r['delivered_per_sec']:>11,.0f} {ms(l['p50']):>7} {ms(l['p90']):>7} {ms(l['p99']):>7} "
          f"{ms(l['p999']):>8} {ms(l['max']):>7} {r['append_latency_us']['p99']/1000:>10.2f} {errs:>4}")
    for k, v in r["errors"].items():
        print(f"         error x{v}: {k}")
print("latency = subscriber receipt - append acknowledgement (0 when the change arrived before the writer saw "
      "its ack); append p99 = the writers' own latency from the intended send time")
print()
def verdict(ok):
    return "met" if ok else "MISSED"
a, b = rows["live-2g"], rows["live-1g"]
reached = min(a["events_per_sec"], b["events_per_sec"]) >= 0.95 * rate
d = (a["latency_us"]["p99"] - b["latency_us"]["p99"]) / 1000
note = "" if reached else f" (appended only {a['events_per_sec']:,.0f} / {b['events_per_sec']:,.0f} events/s, not {rate:,.0f})"
print(f"target merged feed adds <= 2 ms to p99 over one group's feed at {rate:,.0f} events/s: "
      f"{a['latency_us']['p99']/1000:.2f} - {b['latency_us']['p99']/1000:.2f} = {d:+.2f} ms{note} -> {verdict(d <= 2 and reached)}")
if "mid-2g" in rows and "mid-1g" in rows:
    a2, b2 = rows["mid-2g"], rows["mid-1g"]
    d = (a2["latency_us"]["p99"] - b2["latency_us"]["p99"]) / 1000
    print(f"  (for reference, not the target: at {a2['rate']:,.0f} events/s merging adds {d:+.2f} ms to p99, "
          f"{(a2['latency_us']['p50'] - b2['latency_us']['p50']) / 1000:+.2f} ms to p50)")
i, busy = rows["idle-2g"], rows["low-2g"]
for name, ref in (("both groups busy at the same rate", busy), (f"the {rate:,.0f} events/s merged run", a)):
    d = (i["latency_us"]["p99"] - ref["latency_us"]["p99"]) / 1000
    d50 = (i["latency_us"]["p50"] - ref["latency_us"]["p50"]) / 1000
    print(f"target idle group adds <= 50 ms (one watermark interval) over {name}: p99 {d:+.2f} ms, p50 {d50:+.2f} ms -> "
          f"{verdict(d <= 50)}")
PY
if [ -n "${RESULTS:-}" ]; then cp "$work/results.txt" "$RESULTS"; fi

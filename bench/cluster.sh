#!/usr/bin/env bash
# The cluster section of `make bench` (issue 6): the cluster of `make cluster` (scripts/cluster.sh: a
# real etcd and 2 groups x 3 rdb-servers, reads 2, writes 2, fsync=always) on free loopback ports,
# data under mktemp -d, then:
#   - single-event appends at 16, 64 and 256 clients and batched appends (100 events per request, the
#     key varying between requests) at 16 and 64 clients: rdb-bench --route-groups, i.e. every client
#     connects to both groups' leader 1 and sends each request to its key's group; plus one 64-client
#     single-event run through the followers (every request forwarded by a node to its key's leader);
#   - the sequencer alone against the same etcd: rdb-bench sequencer --method both (the batched etcd
#     sequencer, one txn per 1024 seqs, vs the original project's lock-get-put, one seq per lock);
#   - write unavailability after kill -9 of group 0's leader 1: a loop of single writes (rdb-client,
#     --timeout 0.5) to a key of group 0 through a node of group 1, from the kill to the first
#     acknowledged write (which the new leader 1 and its new leader 2 hold);
#   - then, with the cluster stopped, the durable single-node peers in the same job: bench/peers.sh's
#     PostgreSQL (synchronous_commit=on) and Redis Streams (appendfsync always) at the same client
#     counts.
# Prints the machine, the settings, one table with the targets, and (RESULTS=FILE) JSON lines.
# Usage: bench/cluster.sh BUILD_DIR   (SYNC_SECONDS=... the 10 s per run; LEASE_TTL=2,
# REFRESH_INTERVAL=0.5; CLUSTER_PEERS=0 skips the peers; CLUSTER_PERF=DIR repeats the 64-client
# single-event and the 16-client batched run under a system-wide `perf record -g -a` into DIR; group
# 0's leader 1 is the pid printed as lead0_pid)
# Everything runs on this one machine: etcd, 6 servers and the load generator share its cores.
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
lease_ttl=${LEASE_TTL:-2}
refresh=${REFRESH_INTERVAL:-0.5}
with_peers=${CLUSTER_PEERS:-1}
perf_dir=${CLUSTER_PERF:-}
clients_list="16 64 256"
batch=100
batch_clients_list="16 64"
seq_clients=2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
server="$build/tools/rdb-server"
client="$build/tools/rdb-client"
bench="$build/tools/rdb-bench"

for tool in etcd etcdctl python3 "$server" "$client" "$bench"; do
  if ! command -v "$tool" >/dev/null; then
    echo "cluster.sh: $tool is missing (bash scripts/install-deps.sh; build $build first)" >&2
    exit 1
  fi
done
if [ -n "$perf_dir" ]; then command -v perf >/dev/null || { echo "cluster.sh: perf is missing" >&2; exit 1; }; fi

work=$(mktemp -d /tmp/rdb-cluster-bench-XXXXXX)
data="$work/cluster"
cluster_pid=""
pids=()  # etcd and the nodes, found once the cluster is up
cleanup() {
  set +e
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid" 2>/dev/null  # scripts/cluster.sh stops its servers, then etcd
    for _ in $(seq 300); do kill -0 "$cluster_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2>/dev/null
  fi
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

: > "$work/results.jsonl"
emit() { echo "$1" >> "$work/results.jsonl"; }

# --- the cluster: scripts/cluster.sh on a free block of ports ------------------------------------
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
started=""
for attempt in 1 2 3 4 5; do
  base=$(free_base)
  rm -rf "$data"
  CLUSTER_DATA="$data" BASE_PORT="$base" LEASE_TTL="$lease_ttl" REFRESH_INTERVAL="$refresh" \
    CLUSTER_GROUPS=2 GROUP_SIZE=3 READS=2 WRITES=2 TRACE_LEVEL=warn \
    bash "$root/scripts/cluster.sh" "$build" > "$work/cluster.out" 2>&1 &
  cluster_pid=$!
  for _ in $(seq 600); do
    if grep -q "Ctrl-C stops the cluster" "$work/cluster.out"; then started=1; break; fi
    kill -0 "$cluster_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$started" ] && break
  if grep -q "is in use" "$work/cluster.out"; then wait "$cluster_pid" || true; cluster_pid=""; continue; fi
  echo "cluster.sh: the cluster did not start:" >&2; cat "$work/cluster.out" >&2
  tail -5 "$data"/*.log >&2 2>/dev/null || true
  exit 1
done
[ -n "$started" ] || { echo "cluster.sh: no free block of ports" >&2; exit 1; }
etcd_ep="127.0.0.1:$base"
pid_of() {  # the pid of the process whose command line contains "$1" (one of ours)
  local p
  p=$(pgrep -f -- "$1" | head -1)
  [ -n "$p" ] || { echo "cluster.sh: no process for '$1'" >&2; return 1; }
  echo "$p"
}
pids+=("$(pid_of "--data-dir $data/etcd ")")
for i in 0 1 2 3 4 5; do pids+=("$(pid_of "--data-dir $data/node$i --address")"); done

# Until each group has its leader 1 and leader 2 (every node answers `members`).
members() { "$client" members --server "${1:-127.0.0.1:$((base + 10))}" --json --timeout 2; }
for _ in $(seq 100); do
  m=$(members 2>/dev/null || true)
  n1=$(grep -c '"role":"leader1"' <<< "$m" || true)
  n2=$(grep -c '"role":"leader2"' <<< "$m" || true)
  [ "$n1" = 2 ] && [ "$n2" = 2 ] && break
  sleep 0.2
done
role_addr() {  # group, role -> address (first match)
  MEMBERS="$m" python3 -c '
import json, os, sys
for line in os.environ["MEMBERS"].splitlines():
    j = json.loads(line)
    if j["group"] == int(sys.argv[1]) and j["role"] == sys.argv[2]:
        print(j["address"]); break' "$1" "$2"
}
lead0=$(role_addr 0 leader1); lead1=$(role_addr 1 leader1)
foll0=$(role_addr 0 follower); foll1=$(role_addr 1 follower)
[ -n "$lead0" ] && [ -n "$lead1" ] && [ -n "$foll0" ] && [ -n "$foll1" ] ||
  { echo "cluster.sh: no leaders:"; echo "$m"; exit 1; } >&2
lead0_pid=$(pid_of "--address $lead0 ")

echo "== cluster benchmark (issue 6): scripts/cluster.sh $build, 2 groups x 3 rdb-servers + etcd"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc), mem: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -hT "$work" | awk 'NR==2{print $1" "$2" "$3}'), kernel: $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg), date: $(date -u +%FT%TZ)"
echo "etcd $(etcd --version | awk '/etcd Version/{print $3}') on $etcd_ep (scripts/cluster.sh: --heartbeat-interval 50 --election-timeout 500, WAL fsync per write)"
echo "cluster.yaml: groups 2, group_size 3, reads 2, writes 2; rdb-server --fsync always (default) --lease-ttl $lease_ttl --refresh-interval $refresh, TRACE_LEVEL=warn; data under $work"
echo "ALL on this machine: etcd, 6 rdb-servers and the load generator share $(nproc) cores"
echo "runs: ${secs}s each, payload 100 B, random keys over 100000; leaders 1: group 0 $lead0, group 1 $lead1"
"$client" members --server "127.0.0.1:$((base + 10))"
emit "$(python3 -c 'import json,sys; print(json.dumps({"system":"machine","cpu":sys.argv[1],"cores":int(sys.argv[2]),"kernel":sys.argv[3],"load":sys.argv[4],"date":sys.argv[5],"settings":sys.argv[6]}))' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)" "$(uname -r)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)" \
  "2x3 rdb-server, reads 2, writes 2, fsync always, lease_ttl $lease_ttl, refresh $refresh, etcd heartbeat 50 election 500, payload 100, key_space 100000, ${secs}s per run")"
echo

# --- appends ---------------------------------------------------------------------------------------
run_bench() {  # label, servers, extra rdb-bench args...
  local label=$1 servers=$2 out
  shift 2
  echo "-- rdb-bench --server $servers $*" >&2
  out=$("$bench" --server "$servers" --payload-bytes 100 --duration "$secs" --json "$@") || true
  [ -n "$out" ] || { echo "cluster.sh: rdb-bench printed nothing" >&2; exit 1; }
  RUN_JSON=$out python3 - "$label" >> "$work/results.jsonl" <<'PY'
import json, os, sys
r = json.loads(os.environ["RUN_JSON"])
print(json.dumps({"system": "rdeebee-cluster", "workload": sys.argv[1], "clients": r["clients"],
                  "batch": r["batch"], "route_groups": r.get("route_groups", False),
                  "events_per_sec": r["events_per_sec"], "requests_per_sec": r["requests_per_sec"],
                  "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
                  "max_ms": r["latency_us"]["max"] / 1000, "errors": sum(r["errors"].values()),
                  "error_kinds": r["errors"]}))
PY
}
leaders="$lead0,$lead1"
for n in $clients_list; do run_bench "single-$n" "$leaders" --route-groups --clients "$n"; done
run_bench single-64-forwarded "$foll0,$foll1" --clients 64
for n in $batch_clients_list; do
  run_bench "batch100-$n" "$leaders" --route-groups --clients "$n" --batch "$batch"
done

# Each node's engine counters after the append runs: records (appends), group commits and fdatasyncs,
# i.e. how many records a leader 1 commits per group and how many syncs its members do for them.
echo "-- engine counters after the append runs (rdb-client status):" >&2
for i in 0 1 2 3 4 5; do
  addr="127.0.0.1:$((base + 10 + i))"
  "$client" status --server "$addr" --timeout 2 2>/dev/null | python3 -c '
import json, sys
s = dict(l.split(": ", 1) for l in sys.stdin.read().splitlines() if ": " in l)
r = {"system": "node-counters", "node": s.get("node"), "group": int(s.get("group", -1)),
     "role": s.get("role"), "records": int(s.get("appends", 0)),
     "events": int(s.get("events_appended", 0)), "group_commits": int(s.get("group_commits", 0)),
     "log_syncs": int(s.get("log_syncs", 0))}
print("   %(node)s group %(group)d %(role)-8s records %(records)7d events %(events)8d "
      "group commits %(group_commits)7d fdatasyncs %(log_syncs)7d" % r, file=sys.stderr)
print(json.dumps(r))' >> "$work/results.jsonl" || true
done

if [ -n "$perf_dir" ]; then  # profiles of group 0's leader 1, not in the table
  mkdir -p "$perf_dir"
  perf_run() {  # label, rdb-bench args...
    local label=$1; shift
    perf record -F 999 -g -a -o "$perf_dir/$label.perf.data" -- sleep "$((secs - 1))" \
      2> "$perf_dir/$label.perf.log" &
    local perf_pid=$!
    "$bench" --server "$leaders" --route-groups --payload-bytes 100 --duration "$secs" "$@" \
      > "$perf_dir/$label.bench.txt" || true
    wait "$perf_pid" || true
    echo "perf: $perf_dir/$label.perf.data ($(grep -m1 -o 'Events:.*\|samples.*' "$perf_dir/$label.perf.log" || true))" >&2
  }
  echo "perf: group 0 leader 1 ($lead0) is pid $lead0_pid; etcd pid ${pids[0]}; nodes ${pids[*]:1}" >&2
  perf_run single-64 --clients 64
  perf_run batch100-16 --clients 16 --batch "$batch"
fi

# --- the sequencer alone, against the same etcd ----------------------------------------------------
echo "-- rdb-bench sequencer --etcd $etcd_ep --method both --clients $seq_clients --duration $secs" >&2
seq_out=$("$bench" sequencer --etcd "$etcd_ep" --method both --clients "$seq_clients" \
          --duration "$secs" --json) || true
[ -n "$seq_out" ] || { echo "cluster.sh: rdb-bench sequencer printed nothing" >&2; exit 1; }
RUN_JSON=$seq_out python3 - >> "$work/results.jsonl" <<'PY'
import json, os
r = json.loads(os.environ["RUN_JSON"])
for m in r["results"]:
    print(json.dumps({"system": "sequencer", "workload": m["method"], "clients": r["clients"],
                      "batch": r["batch"] if m["method"] == "batched" else 1,
                      "seqs_per_sec": m["seqs_per_sec"], "calls_per_sec": m["calls_per_sec"],
                      "p50_ms": m["latency_us"]["p50"] / 1000, "p99_ms": m["latency_us"]["p99"] / 1000,
                      "duplicates": m["duplicates"], "errors": len(m["errors"])}))
PY

# --- unavailability after kill -9 of group 0's leader 1 -------------------------------------------
key=$(python3 - <<'PY'
import ctypes
try:  # cluster::GroupOfKey = XXH64(key, seed 0) mod groups
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH64.restype = ctypes.c_uint64
    lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
    i = 0
    while lib.XXH64(f"unavail-{i}".encode(), len(f"unavail-{i}"), 0) % 2 != 0:
        i += 1
    print(f"unavail-{i}")
except OSError:
    print("user-1")  # group 0 of 2 (src/cluster/cluster_unit_test.cc, PinnedVectors)
PY
)
via=$foll1  # a node of group 1: it forwards the write to group 0's leader 1, whoever it is
write_once() { "$client" --server "$via" --timeout 0.5 -k "$key" -p x write >/dev/null 2>"$work/write.err"; }
for _ in $(seq 50); do write_once && break; sleep 0.1; done
write_once || { echo "cluster.sh: a write to $key through $via fails before the kill:" >&2; cat "$work/write.err" >&2; exit 1; }
echo "-- kill -9 $lead0_pid (group 0 leader 1, $lead0); writes to $key (group 0) through $via, --timeout 0.5" >&2
t0=$(date +%s.%N)
kill -KILL "$lead0_pid"
attempts=0
first_error=""
while :; do
  attempts=$((attempts + 1))
  if write_once; then break; fi
  [ -n "$first_error" ] || first_error=$(head -c 200 "$work/write.err" | tr '\n' ' ')
  if python3 -c "import sys; sys.exit(0 if $(date +%s.%N) - $t0 > 30 else 1)"; then
    echo "cluster.sh: no write acknowledged within 30 s of the kill" >&2; break
  fi
done
t1=$(date +%s.%N)
m=$(members "$via" 2>/dev/null || true)
new_lead0=$(role_addr 0 leader1)
unavail=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
echo "first acknowledged write after ${unavail}s, $attempts attempts; group 0 leader 1 now $new_lead0; first error: $first_error" >&2
emit "$(python3 -c 'import json,sys; print(json.dumps({"system":"rdeebee-cluster","workload":"unavailability-kill9","lease_ttl_s":float(sys.argv[1]),"unavailable_s":float(sys.argv[2]),"attempts":int(sys.argv[3]),"new_leader":sys.argv[4],"first_error":sys.argv[5]}))' \
  "$lease_ttl" "$unavail" "$attempts" "$new_lead0" "$first_error")"

# Stop the cluster before the peers run (scripts/cluster.sh stops every server, then etcd).
kill -TERM "$cluster_pid" 2>/dev/null || true
wait "$cluster_pid" 2>/dev/null || true
cluster_pid=""
echo

# --- durable single-node peers, same job ----------------------------------------------------------
if [ "$with_peers" != 0 ]; then
  echo "== durable single-node peers (bench/peers.sh: PostgreSQL synchronous_commit=on, Redis appendfsync always)"
  PEERS_SYSTEMS="postgresql redis" PEERS_CLIENTS="$clients_list" PEERS_BATCHED=1 SYNC_SECONDS="$secs" \
    RESULTS="$work/peers.jsonl" bash "$here/peers.sh" "$build" 2>&1 | sed 's/^/  /'
  cat "$work/peers.jsonl" >> "$work/results.jsonl"
  echo
fi

# --- the table ------------------------------------------------------------------------------------
python3 - "$work/results.jsonl" "$lease_ttl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lease = float(sys.argv[2])
ours = {r["workload"]: r for r in rows if r["system"] == "rdeebee-cluster"}
seq = {r["workload"]: r for r in rows if r["system"] == "sequencer"}
peers = {(r["system"], r["workload"]): r for r in rows if r["system"] in ("postgresql", "redis")}
def best_peer(workload):
    c = [(r["events_per_sec"], s) for (s, w), r in peers.items() if w == workload]
    return max(c) if c else (None, None)
def verdict(ok):
    return "met" if ok else "MISSED"
print(f"{'workload':<42} {'clients':>7} {'events/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}   "
      f"{'best durable peer':<28} target")
for w, r in ours.items():
    if "events_per_sec" not in r:
        continue
    title = {"single-64-forwarded": "single-event, via followers (forwarded)"}.get(w)
    if not title:
        title = (f"single-event" if w.startswith("single-") else f"batched {r['batch']}/request")
    peer_w = "batch100" if w.startswith("batch") else w
    bp, bs = best_peer(peer_w)
    peer = f"{bs} {bp:,.0f}" if bp else "-"
    if w.startswith("batch"):
        target = f">= 200,000: {verdict(r['events_per_sec'] >= 200000)}"
    elif w == "single-64-forwarded" or not bp:
        target = "-"
    else:
        target = f">= best peer ({r['events_per_sec'] / bp:.2f}x): {verdict(r['events_per_sec'] >= bp)}"
    print(f"{title:<42} {r['clients']:>7} {r['events_per_sec']:>10,.0f} {r['p50_ms']:>7.2f} "
          f"{r['p99_ms']:>7.2f} {r['errors']:>6}   {peer:<28} {target}")
b, l = seq.get("batched"), seq.get("lock-get-put")
if b:
    ratio = b["seqs_per_sec"] / l["seqs_per_sec"] if l and l["seqs_per_sec"] else 0
    print(f"{'sequencer, batched (' + str(b['batch']) + ' seqs/txn), seqs/s':<42} {b['clients']:>7} "
          f"{b['seqs_per_sec']:>10,.0f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} {b['errors']:>6}   "
          f"{'':<28} >= 1,000,000 and >= 100x: {verdict(b['seqs_per_sec'] >= 1e6 and ratio >= 100)} "
          f"({ratio:,.0f}x)")
if l:
    print(f"{'sequencer, lock-get-put, seqs/s':<42} {l['clients']:>7} {l['seqs_per_sec']:>10,.0f} "
          f"{l['p50_ms']:>7.2f} {l['p99_ms']:>7.2f} {l['errors']:>6}")
u = ours.get("unavailability-kill9")
if u:
    print(f"{'write unavailability, kill -9 leader 1':<42} {'':>7} {u['unavailable_s']:>9.2f}s "
          f"{'':>7} {'':>7} {'':>6}   {'LEASE_TTL ' + str(u['lease_ttl_s']) + ' s':<28} "
          f"<= LEASE_TTL + 1 s: {verdict(u['unavailable_s'] <= lease + 1)}")
for (s, w), r in sorted(peers.items()):
    if r.get("errors"):
        print(f"{s} {w}: {r['errors']} failed requests")
PY
if [ -n "${RESULTS:-}" ]; then cp "$work/results.jsonl" "$RESULTS"; fi

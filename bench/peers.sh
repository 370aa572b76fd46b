#!/usr/bin/env bash
# The server section of `make bench`: RDeeBee's rdb-server beside the peers a user would otherwise pick,
# each durable, on loopback, at the same concurrency, with the same 100-byte payloads:
#   - RDeeBee: bench/server.sh (rdb-bench against rdb-server --fsync always);
#   - PostgreSQL 15: a private cluster (synchronous_commit=on, fsync=on), an append-only events table,
#     pgbench with a custom script (one INSERT per transaction; batched: one 100-row INSERT);
#   - Redis Streams: redis-server (appendonly yes, appendfsync always), redis-benchmark running
#     XADD stream:<random> * f <payload>; batched: pipelining 100 XADDs (-P 100), the closest analogue.
#   - etcd 3.4: a single-member etcd (it fsyncs its WAL before acknowledging; 3.4 has no switch to
#     turn that off), driven by `rdb-bench --target etcd` through our own C++ etcd client (Debian
#     ships no etcd benchmark): one Put per event; batched: one Txn of 100 Puts.
# Rows: single-event appends at 1, 16 and 64 clients, batched appends (100 events per request, 16
# clients). Columns: events/s, p50 and p99 per system, and ours / best peer. Every server is started
# by this script on a free loopback port with its data under mktemp -d, and stopped and removed on exit.
# Usage: bench/peers.sh BUILD_DIR   (SYNC_SECONDS=... overrides the 10 s per run; RESULTS=FILE keeps
# the raw results as JSON lines; PEERS_SYSTEMS="postgresql redis" runs only those, PEERS_CLIENTS="16
# 64 256" the peers' single-event client counts, PEERS_BATCHED=0 skips the batched row). Section
# bodies below are not indented: they hold heredocs.
set -euo pipefail
build=${1:-build/release}
secs=${SYNC_SECONDS:-10}
here=$(cd "$(dirname "$0")" && pwd)
pgbin=/usr/lib/postgresql/15/bin
key_space=100000
payload=$(printf 'x%.0s' $(seq 100))  # 100 bytes
batch=100
batch_clients=16
# Which systems and single-event client counts to run (bench/cluster.sh runs only the peers, at its
# own client counts); the RDeeBee rows always come from bench/server.sh (1, 16 and 64 clients).
systems=${PEERS_SYSTEMS:-rdeebee postgresql redis etcd}
clients_list=${PEERS_CLIENTS:-1 16 64}
batched=${PEERS_BATCHED:-1}  # 0: no batched row
want() { [[ " $systems " == *" $1 "* ]]; }
pg_max_connections=200
for n in $clients_list; do if ((n + 10 > pg_max_connections)); then pg_max_connections=$((n + 10)); fi; done

for tool in "$pgbin/initdb" "$pgbin/pg_ctl" "$pgbin/pgbench" "$pgbin/psql" redis-server redis-cli \
            redis-benchmark etcd etcdctl "$build/tools/rdb-server" "$build/tools/rdb-bench"; do
  if ! command -v "$tool" >/dev/null; then
    echo "peers.sh: $tool is missing (bash scripts/install-deps.sh; build $build first)" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/rdb-peers-XXXXXX)
pgdir=""
pg_started=""
redis_pid=""
etcd_pid=""
cleanup() {
  set +e
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; fi
  if [ -n "$etcd_pid" ]; then kill -TERM "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; fi
  if [ -n "$pg_started" ]; then as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1; fi
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
as_pg() {  # PostgreSQL's server programs refuse to run as root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
now() { date +%s.%N; }
record() {  # system, workload, clients, events/s, p50 ms, p99 ms
  printf '{"system":"%s","workload":"%s","clients":%s,"events_per_sec":%s,"p50_ms":%s,"p99_ms":%s}\n' \
    "$@" >> "$work/results.jsonl"
}
: > "$work/results.jsonl"

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc), mem: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -hT "$work" | awk 'NR==2{print $1" "$2" "$3}'), kernel: $(uname -r), load: $(cut -d' ' -f1-3 /proc/loadavg), date: $(date -u +%FT%TZ)"
echo "runs: ${secs}s each, payload 100 B, random keys over $key_space, batched = $batch events per request at $batch_clients clients"
echo

# --- RDeeBee -------------------------------------------------------------------------------------
if want rdeebee; then
echo "== RDeeBee: rdb-server --fsync always, rdb-bench (bench/server.sh)"
RESULTS="$work/ours.txt" SYNC_SECONDS="$secs" bash "$here/server.sh" "$build"
python3 - "$work/ours.txt" >> "$work/results.jsonl" <<'PY'
import json, sys
# label -> (system, workload): unary Append calls, and AppendStream (system "rdeebee-stream").
names = {"single-1": ("rdeebee", "single-1"), "single-16": ("rdeebee", "single-16"),
         "single-64": ("rdeebee", "single-64"), "batch100-16": ("rdeebee", "batch100"),
         "stream-1": ("rdeebee-stream", "single-1"), "stream-16": ("rdeebee-stream", "single-16"),
         "stream-64": ("rdeebee-stream", "single-64"),
         "stream-batch100-16": ("rdeebee-stream", "batch100"),
         "half-rate-64": ("rdeebee", "half-rate-64"),
         "stream-half-rate-64": ("rdeebee-stream", "half-rate-64")}
for line in open(sys.argv[1]):
    label, js = line.split(" ", 1)
    r = json.loads(js)
    if label not in names:
        continue
    system, workload = names[label]
    print(json.dumps({"system": system, "workload": workload, "clients": r["clients"],
                      "rate": r["rate"], "events_per_sec": r["events_per_sec"],
                      "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
                      "errors": sum(r["errors"].values())}))
PY
echo
fi

# --- PostgreSQL ----------------------------------------------------------------------------------
if want postgresql; then
pgdir=$(mktemp -d /tmp/rdb-peers-pg-XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres: "$pgdir"
pgport=$(free_port)
pg_settings="fsync=on synchronous_commit=on wal_sync_method=fdatasync full_page_writes=on max_connections=$pg_max_connections shared_buffers=128MB"
as_pg "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
pg_opts="-p $pgport -k $pgdir -c listen_addresses=127.0.0.1"
for s in $pg_settings; do pg_opts+=" -c $s"; done
pg_started=1  # before start: a start that times out may still leave a postmaster to stop
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -o "$pg_opts" -w start >/dev/null
psql_() { "$pgbin/psql" -X -q -h 127.0.0.1 -p "$pgport" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "CREATE TABLE events (id bigserial PRIMARY KEY, key text NOT NULL, payload bytea NOT NULL,
                               created_at timestamptz NOT NULL DEFAULT now())"
echo "== PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pgport, $pgbin/pgbench -n -M prepared -j CLIENTS"
echo "settings: $(psql_ -At -c "SELECT name || '=' || current_setting(name) FROM pg_settings WHERE name IN
  ('fsync','synchronous_commit','wal_sync_method','full_page_writes','shared_buffers','max_connections',
   'wal_level','checkpoint_timeout','max_wal_size') ORDER BY name" | tr '\n' ' ')"
echo "table: events (id bigserial primary key, key text, payload bytea, created_at timestamptz default now())"

# One event per transaction: the key and the 100-byte payload travel as parameters of a prepared INSERT.
cat > "$work/single.sql" <<EOF
\\set k random(1, $key_space)
INSERT INTO events (key, payload) VALUES (:k, :payload);
EOF
# Batched: one INSERT of $batch rows for one key, one transaction, one round trip.
{
  echo "\\set k random(1, $key_space)"
  printf 'INSERT INTO events (key, payload) VALUES (:k, :payload)'
  for _ in $(seq 2 "$batch"); do printf ', (:k, :payload)'; done
  echo ';'
} > "$work/batch.sql"

run_pgbench() {  # workload, clients, script, events per transaction
  local workload=$1 clients=$2 script=$3 per_tx=$4 out tps p50 p99
  psql_ -c "TRUNCATE events" -c "CHECKPOINT"
  echo "-- pgbench -f $(basename "$script") -c $clients -j $clients -T $secs" >&2
  rm -f "$work"/pglog.*
  out=$("$pgbin/pgbench" -h 127.0.0.1 -p "$pgport" -U postgres -n -M prepared -f "$script" \
        -D "payload=$payload" -c "$clients" -j "$clients" -T "$secs" -l --log-prefix="$work/pglog" \
        postgres 2>&1) || { echo "$out" >&2; return 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<< "$out" | head -1)
  if [ -z "$tps" ]; then echo "$out" >&2; echo "peers.sh: no tps in pgbench's output" >&2; return 1; fi
  read -r p50 p99 < <(python3 "$here/peers_table.py" pglog "$work"/pglog.*)
  record postgresql "$workload" "$clients" "$(python3 -c "print($tps * $per_tx)")" "$p50" "$p99"
}
for n in $clients_list; do run_pgbench "single-$n" "$n" "$work/single.sql" 1; done
if [ "$batched" = 1 ]; then run_pgbench batch100 "$batch_clients" "$work/batch.sql" "$batch"; fi
psql_ -At -c "SELECT 'rows in events after the batched run: ' || count(*) FROM events"
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null
pg_started=""
echo
fi

# --- Redis Streams -------------------------------------------------------------------------------
if want redis; then
rport=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync always \
  --save "" --daemonize no --logfile "$work/redis/redis.log" &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "== Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$rport, redis-benchmark XADD stream:__rand_int__ * f <100 B>"
redis_settings=""
for s in appendonly appendfsync save aof-use-rdb-preamble io-threads; do
  redis_settings+="$s=\"$(redis-cli -p "$rport" config get "$s" | tail -1)\" "
done
echo "settings: $redis_settings"

xadd=(XADD stream:__rand_int__ '*' f "$payload")
redis_bench() {  # clients, requests, pipeline -> CSV line "rps","avg","min","p50","p95","p99","max"
  redis-benchmark -p "$rport" -c "$1" -n "$2" -P "$3" -r "$key_space" --csv "${xadd[@]}" | tail -1 |
    cut -d, -f2-
}
run_redis() {  # workload, clients, pipeline
  local workload=$1 clients=$2 pipeline=$3 n t0 t1 csv
  redis-cli -p "$rport" flushall >/dev/null
  # redis-benchmark runs a number of requests, not a duration: grow a probe until it takes >= 1 s,
  # then size the measured run to last about $secs seconds.
  n=$((clients * pipeline * 10))
  while :; do
    t0=$(now); redis_bench "$clients" "$n" "$pipeline" >/dev/null; t1=$(now)
    if python3 -c "import sys; sys.exit(0 if $t1 - $t0 >= 1 else 1)"; then break; fi
    n=$((n * 4))
  done
  n=$(python3 -c "print(max($clients * $pipeline, int($n / ($t1 - $t0) * $secs)))")
  redis-cli -p "$rport" flushall >/dev/null
  echo "-- redis-benchmark -c $clients -n $n -P $pipeline -r $key_space XADD ..." >&2
  csv=$(redis_bench "$clients" "$n" "$pipeline" | tr -d '"')
  if ! [[ $csv =~ ^[0-9.]+, ]]; then echo "peers.sh: unexpected redis-benchmark output: $csv" >&2; return 1; fi
  record redis "$workload" "$clients" "$(cut -d, -f1 <<< "$csv")" "$(cut -d, -f4 <<< "$csv")" \
    "$(cut -d, -f6 <<< "$csv")"
}
for n in $clients_list; do run_redis "single-$n" "$n" 1; done
if [ "$batched" = 1 ]; then run_redis batch100 "$batch_clients" "$batch"; fi
echo "aof fsyncs: $(redis-cli -p "$rport" info persistence | grep -E '^aof_(enabled|last_write_status)' | tr -d '\r' | paste -sd' ')"
kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true
redis_pid=""
echo
fi

# --- etcd ----------------------------------------------------------------------------------------
if want etcd; then
# Durable by default: etcd fsyncs its raft WAL before a write is acknowledged (batching the writes
# that arrive together, as a group commit). The other flags are pinned at their 3.4 defaults,
# except the backend quota, raised so that no run can hit the 2 GiB default and stop on an alarm.
eport=$(free_port)
epeer=$(free_port)
mkdir -p "$work/etcd"
etcd_settings="--quota-backend-bytes=8589934592 --snapshot-count=100000 --heartbeat-interval=100 --election-timeout=1000 --max-txn-ops=128 --max-request-bytes=1572864 --auto-compaction-retention=0"
# shellcheck disable=SC2086
etcd --name bench --data-dir "$work/etcd/data" \
  --listen-client-urls "http://127.0.0.1:$eport" --advertise-client-urls "http://127.0.0.1:$eport" \
  --listen-peer-urls "http://127.0.0.1:$epeer" --initial-advertise-peer-urls "http://127.0.0.1:$epeer" \
  --initial-cluster "bench=http://127.0.0.1:$epeer" --initial-cluster-state new \
  --logger zap --log-outputs stderr --log-level warn $etcd_settings 2>"$work/etcd/etcd.log" &
etcd_pid=$!
etcdctl_() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$eport" --command-timeout 60s "$@"; }
for _ in $(seq 100); do etcdctl_ endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
if ! etcdctl_ endpoint health >/dev/null 2>&1; then
  echo "peers.sh: etcd did not start; its log:" >&2; cat "$work/etcd/etcd.log" >&2; exit 1
fi
etcd_metric() {  # sum of a metric from etcd's /metrics
  python3 - "http://127.0.0.1:$eport/metrics" "$1" <<'PY'
import sys, urllib.request
total = 0.0
for line in urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().splitlines():
    if line.startswith(sys.argv[2] + " ") or line.startswith(sys.argv[2] + "{"):
        total += float(line.rsplit(" ", 1)[1])
print(int(total))
PY
}
echo "== etcd $(etcd --version | awk '/etcd Version/{print $3}') on 127.0.0.1:$eport, $build/tools/rdb-bench --target etcd (our C++ etcd client, one connection per client)"
echo "settings: $etcd_settings (WAL fsync before every acknowledgement; 3.4 has no --unsafe-no-fsync)"

run_etcd() {  # workload, clients, batch
  local workload=$1 clients=$2 batch_=$3 rev out
  # Empty, compacted and defragmented before each run, as the other peers start empty.
  etcdctl_ del "" --from-key >/dev/null
  rev=$(etcdctl_ get "" --from-key --keys-only --limit 1 -w json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
  etcdctl_ compact "$rev" >/dev/null 2>&1 || true  # fails only if nothing changed since the last
  etcdctl_ defrag >/dev/null
  echo "-- rdb-bench --target etcd --workload append --clients $clients --batch $batch_" >&2
  out=$("$build/tools/rdb-bench" --target etcd --server "127.0.0.1:$eport" --workload append \
        --payload-bytes 100 --key-space "$key_space" --clients "$clients" --batch "$batch_" \
        --duration "$secs" --json) || true  # exit 1 = some requests failed; counted below
  RUN_JSON=$out python3 - "$workload" >> "$work/results.jsonl" <<'PY'
import json, os, sys
r = json.loads(os.environ["RUN_JSON"])
print(json.dumps({"system": "etcd", "workload": sys.argv[1], "clients": r["clients"],
                  "events_per_sec": r["events_per_sec"], "p50_ms": r["latency_us"]["p50"] / 1000,
                  "p99_ms": r["latency_us"]["p99"] / 1000, "errors": sum(r["errors"].values())}))
PY
}
fsyncs0=$(etcd_metric etcd_disk_wal_fsync_duration_seconds_count)
for n in $clients_list; do run_etcd "single-$n" "$n" 1; done
if [ "$batched" = 1 ]; then run_etcd batch100 "$batch_clients" "$batch"; fi
echo "wal fsyncs during the runs: $(( $(etcd_metric etcd_disk_wal_fsync_duration_seconds_count) - fsyncs0 )), db size: $(etcd_metric etcd_mvcc_db_total_size_in_bytes) bytes"
kill -TERM "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true
etcd_pid=""
echo
fi

python3 "$here/peers_table.py" table "$work/results.jsonl"
if [ -n "${RESULTS:-}" ]; then cp "$work/results.jsonl" "$RESULTS"; fi

#!/usr/bin/env bash
# make cluster: a real etcd and CLUSTER_GROUPS x GROUP_SIZE rdb-servers on 127.0.0.1, data under
# ./cluster-data, every node's address and role printed; Ctrl-C stops them all.
#
#   scripts/cluster.sh [BUILD_DIR]          (default build/dev)
#   CLUSTER_GROUPS=2 GROUP_SIZE=3 READS=2 WRITES=2 BASE_PORT=4100 LEASE_TTL=2 REFRESH_INTERVAL=0.5
#
# Ports: etcd client BASE_PORT, etcd peer BASE_PORT+1, node i on BASE_PORT+10+i. Data persists in
# ./cluster-data between runs (each node keeps its id); remove the directory for a fresh cluster.
# Writes, reads and scans work through any node (docs/design/cluster.md, replication.md).
set -euo pipefail

BUILD_DIR=${1:-build/dev}
CLUSTER_GROUPS=${CLUSTER_GROUPS:-2}
GROUP_SIZE=${GROUP_SIZE:-3}
READS=${READS:-2}
WRITES=${WRITES:-2}
BASE_PORT=${BASE_PORT:-4100}
LEASE_TTL=${LEASE_TTL:-2}
REFRESH_INTERVAL=${REFRESH_INTERVAL:-0.5}
DATA=${CLUSTER_DATA:-./cluster-data}
ETCD_BIN=${RDB_ETCD_BIN:-/usr/bin/etcd}
command -v etcdctl >/dev/null || { echo "cluster.sh: etcdctl not found (apt-get install etcd-client)" >&2; exit 2; }
SERVER="$BUILD_DIR/tools/rdb-server"
CLIENT="$BUILD_DIR/tools/rdb-client"

for bin in "$ETCD_BIN" "$SERVER" "$CLIENT"; do
  [[ -x $bin ]] || { echo "cluster.sh: $bin not found (make build; apt-get install etcd-server)" >&2; exit 2; }
done
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
NODES=$((CLUSTER_GROUPS * GROUP_SIZE))
for p in "$BASE_PORT" $((BASE_PORT + 1)) $(seq $((BASE_PORT + 10)) $((BASE_PORT + 9 + NODES))); do
  port_free "$p" || { echo "cluster.sh: port $p is in use (set BASE_PORT=...)" >&2; exit 2; }
done

mkdir -p "$DATA"
cat > "$DATA/cluster.yaml" <<YAML
dbname: rdeebee
groups: $CLUSTER_GROUPS
group_size: $GROUP_SIZE
reads: $READS
writes: $WRITES
YAML

# Every child runs in a session of its own (setsid), so a Ctrl-C reaches this script only; it then
# stops the servers with one SIGTERM each (each resigns and leaves the map), and etcd last.
PIDS=()
SLEEPER=
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "stopping ${#PIDS[@]} processes..."
  [[ -n $SLEEPER ]] && kill "$SLEEPER" 2>/dev/null
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || continue
    for _ in $(seq 150); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  echo "stopped; data kept in $DATA"
  exit 0
}
trap stop_all INT TERM EXIT

ETCD_EP="127.0.0.1:$BASE_PORT"
setsid "$ETCD_BIN" --name cluster-etcd --data-dir "$DATA/etcd" \
  --listen-client-urls "http://$ETCD_EP" --advertise-client-urls "http://$ETCD_EP" \
  --listen-peer-urls "http://127.0.0.1:$((BASE_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((BASE_PORT + 1))" \
  --initial-cluster "cluster-etcd=http://127.0.0.1:$((BASE_PORT + 1))" \
  --heartbeat-interval 50 --election-timeout 500 >"$DATA/etcd.log" 2>&1 &
PIDS+=($!)
ready=0
for _ in $(seq 100); do
  if ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EP" --dial-timeout 1s endpoint health >/dev/null 2>&1
  then ready=1; break; fi
  sleep 0.1
done
[[ $ready == 1 ]] || { echo "etcd did not become healthy:"; tail -5 "$DATA/etcd.log"; exit 1; }
echo "etcd on $ETCD_EP (log $DATA/etcd.log)"

# One node at a time, so ids (and so groups) follow the node numbers on a fresh cluster.
for i in $(seq 0 $((NODES - 1))); do
  addr="127.0.0.1:$((BASE_PORT + 10 + i))"
  setsid "$SERVER" --data-dir "$DATA/node$i" --address "$addr" --etcd "$ETCD_EP" --node "node$i" \
    --config "$DATA/cluster.yaml" --lease-ttl "$LEASE_TTL" --refresh-interval "$REFRESH_INTERVAL" \
    >"$DATA/node$i.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    "$CLIENT" status --server "$addr" --timeout 1 >/dev/null 2>&1 && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "node$i failed to start:"; tail -5 "$DATA/node$i.log"; exit 1; }
    sleep 0.1
  done
done

echo
echo "$NODES nodes ($CLUSTER_GROUPS groups x $GROUP_SIZE, reads $READS, writes $WRITES; logs in $DATA):"
"$CLIENT" members --server "127.0.0.1:$((BASE_PORT + 10))"
echo
echo "Try: $CLIENT members --server 127.0.0.1:$((BASE_PORT + 11))"
echo "     $CLIENT status --server 127.0.0.1:$((BASE_PORT + 10))"
echo "Ctrl-C stops the cluster."
while true; do
  sleep 3600 &
  SLEEPER=$!
  wait "$SLEEPER" || true
done

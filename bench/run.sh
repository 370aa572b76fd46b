#!/usr/bin/env bash
# make bench: the engine's db_bench-style workloads beside RocksDB's db_bench (Debian rocksdb-tools)
# with pinned, equivalent settings, in the same job. Prints the machine, the settings and one table.
# Usage: bench/run.sh BUILD_DIR   (NUM=... SYNC_SECONDS=... override the sizes)
set -euo pipefail
build=${1:-build/release}
num=${NUM:-1000000}
sync_s=${SYNC_SECONDS:-10}
work=$(mktemp -d /tmp/rdb-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
out="$work/results.txt"
: > "$out"

pinned="--compression_type=none --bloom_bits=10 --write_buffer_size=67108864 --cache_size=536870912 --key_size=16 --value_size=100"
ours="--memtable_bytes=67108864 --cache_bytes=536870912 --key_size=16 --value_size=100"

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc), mem: $(free -g | awk '/Mem:/{print $2}') GiB"
echo "disk: $(df -h "$work" | awk 'NR==2{print $1" "$2}'), kernel: $(uname -r), date: $(date -u +%FT%TZ)"
echo "rocksdb db_bench settings: $pinned"
echo "rdeebee engine_bench settings: $ours (fsync=never unless --sync)"
echo

run_db_bench() {  # label, args...
  local label=$1; shift
  echo "-- db_bench $*" >&2
  db_bench --db="$work/rocksdb" $pinned --histogram=1 --statistics=0 "$@" 2>&1 |
    sed "s/^/[$label] /" >> "$out"
}
run_ours() {  # label, args...
  local label=$1; shift
  echo "-- engine_bench $*" >&2
  "$build/bench/engine_bench" --db="$work/rdeebee" $ours "$@" | sed "s/^/[$label] /" >> "$out"
}

run_db_bench fill  --benchmarks=fillseq,fillrandom --num="$num" --threads=1
run_ours     fill  --benchmarks=fillseq,fillrandom --num="$num" --threads=1
run_db_bench read  --benchmarks=fillseq,readrandom,readseq --num="$num" --threads=1
run_ours     read  --benchmarks=fillseq,readrandom,readseq --num="$num" --threads=1
run_db_bench sync1  --benchmarks=fillrandom --sync=1 --threads=1 --duration="$sync_s" --num="$num"
run_ours     sync1  --benchmarks=fillrandom --sync --threads=1 --duration="$sync_s" --num="$num"
run_db_bench sync16 --benchmarks=fillrandom --sync=1 --threads=16 --duration="$sync_s" --num="$num"
run_ours     sync16 --benchmarks=fillrandom --sync --threads=16 --duration="$sync_s" --num="$num"
run_ours     reopen --benchmarks=reopen --num="$num"

python3 "$(dirname "$0")/table.py" "$out"
cp "$out" "${RESULTS:-/dev/null}" 2>/dev/null || true

#!/usr/bin/env bash
# Installs RDeeBee's build, test and benchmark dependencies from Debian 12 packages.
# Idempotent: packages already installed are skipped, and apt-get runs only when something is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang clang-format clang-tidy libclang-rt-14-dev
  # libraries
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  libzstd-dev liblz4-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
  # gRPC and protobuf
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  python3 python3-grpcio python3-grpc-tools python3-protobuf
  # etcd: the server (tests, `make cluster`, the benchmark peer) and its gRPC .proto files, from
  # which the build generates the C++ stubs of our etcd client (the gogo packages hold their imports)
  etcd-server etcd-client golang-etcd-server-dev golang-github-gogo-protobuf-dev
  golang-github-gogo-googleapis-dev
  # PostgreSQL client library for rdb-sink-postgres (the server comes with the peers below)
  libpqxx-dev
  # network partitions in the cluster fault suite (rules on loopback only)
  iptables
  # peers for benchmarks (pgbench, initdb and pg_ctl ship in postgresql-15, pulled in by postgresql)
  rocksdb-tools postgresql redis-server redis-tools
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

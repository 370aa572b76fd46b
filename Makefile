# RDeeBee's commands. Thin wrappers over scripts/install-deps.sh, CMake presets and CTest.
PRESET ?= dev
BUILD_DIR = build/$(PRESET)
JOBS ?= 2

.PHONY: all deps build run cluster test test-asan bench crash-test fault-test fuzz format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake --preset $(PRESET)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	$(BUILD_DIR)/tools/rdb-server --data-dir ./data --port 2048

# etcd + CLUSTER_GROUPS x GROUP_SIZE servers on 127.0.0.1 (default 2 x 3), data in ./cluster-data; Ctrl-C
# stops them (scripts/cluster.sh).
cluster: build
	bash scripts/cluster.sh $(BUILD_DIR)

test: build
	ctest --preset $(PRESET) -LE long --timeout 600

test-asan:
	$(MAKE) test PRESET=debug

crash-test: build
	RDB_CRASH_ITERATIONS=200 ctest --preset $(PRESET) -R crash --timeout 3600

# The long cluster fault run (docs/reliability.md): etcd + 2 x 3 rdb-server processes under a seeded
# schedule of kill -9, SIGSTOP, etcd kill -9 and iptables partitions for >= 30 minutes and >= 200
# faults, then every checker. Needs root (iptables). FAULT_SEED=N replays a schedule; the summary
# goes to build/<preset>/fault-summary.json, the history (and node logs on failure) to
# build/<preset>/fault-artifacts/.
FAULT_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
FAULT_DURATION_S ?= 1800
FAULT_FAULTS_MIN ?= 200
fault-test: build
	$(BUILD_DIR)/tests/fault/rdb-fault --seed $(FAULT_SEED) --duration-s $(FAULT_DURATION_S) \
	  --faults-min $(FAULT_FAULTS_MIN) --summary-json $(BUILD_DIR)/fault-summary.json \
	  --artifacts $(BUILD_DIR)/fault-artifacts

fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)
	bash scripts/run-fuzzers.sh build/fuzz

bench: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)
	bash bench/run.sh build/release
	bash bench/peers.sh build/release
	bash bench/cdc.sh build/release
	bash bench/cluster.sh build/release
	bash bench/merged-feed.sh build/release

format:
	find src tools tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build

# udpx: `make run` builds and runs the example config; `make test` runs every test.
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
CONFIG     ?= conf/udpx.toml
JOBS       ?= $(shell nproc)

.PHONY: all deps deps-test deps-bench build build-sanitize run test test-unit test-sanitize bench clean

all: build

deps:
	@tools/install-deps.sh build

deps-test:
	@tools/install-deps.sh test

deps-bench:
	@tools/install-deps.sh bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD_SAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DUDPX_SANITIZE=ON

build-sanitize: deps $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j$(JOBS)

run: build
	$(BUILD)/udpx -c $(CONFIG)

# Every test (unit + end-to-end against real peers), then the whole suite again under ASan+UBSan.
test: deps-test build build-sanitize
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -j$(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) -LE e2e

# The benchmark (bench/run.sh): direct vs udpx vs nginx vs socat, about 10 minutes; see bench/RESULTS.md.
bench: deps-bench build
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN)

# udpx: `make run` builds and runs the example config; `make test` runs every test;
# `make install` (PREFIX, DESTDIR) installs; `make deb` builds the Debian package into build/deb/.
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
BUILD_REL  ?= build-release
# The libFuzzer targets (tests/fuzz/): clang 16 (Debian's clang 14 cannot compile libstdc++ 12's
# <ranges> as the code uses it). FUZZ_SECONDS: how long `make fuzz` runs each target.
BUILD_FUZZ ?= build-fuzz
FUZZ_CXX   ?= clang++-16
FUZZ_SECONDS ?= 60
# `make soak`: tests/soak/soak.py on the ASan build for SOAK_SECONDS (the recorded run: 1800).
SOAK_SECONDS ?= 1800
CONFIG     ?= conf/udpx.toml
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=
# The project's own builds treat warnings as errors; users' and packagers' builds do not
# (CMake's default, UDPX_WERROR=OFF).
DEV_CMAKE  ?= -DUDPX_WERROR=ON

.PHONY: all deps deps-test deps-bench deps-deb build build-sanitize build-release build-fuzz run test test-unit \
        test-sanitize test-fuzz fuzz soak bench install deb clean

all: build

deps:
	@tools/install-deps.sh build

deps-test:
	@tools/install-deps.sh test

deps-bench:
	@tools/install-deps.sh bench

deps-deb:
	@tools/install-deps.sh deb

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(DEV_CMAKE)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(BUILD_SAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DUDPX_SANITIZE=ON $(DEV_CMAKE)

build-sanitize: deps $(BUILD_SAN)/CMakeCache.txt
	cmake --build $(BUILD_SAN) -j$(JOBS)

# The build users and packagers make (-O3, NDEBUG): it must compile without a warning too.
$(BUILD_REL)/CMakeCache.txt:
	cmake -S . -B $(BUILD_REL) -DCMAKE_BUILD_TYPE=Release $(DEV_CMAKE)

build-release: deps $(BUILD_REL)/CMakeCache.txt
	cmake --build $(BUILD_REL) -j$(JOBS)

$(BUILD_FUZZ)/CMakeCache.txt:
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) -DUDPX_FUZZ=ON $(DEV_CMAKE)

build-fuzz: deps-test $(BUILD_FUZZ)/CMakeCache.txt
	cmake --build $(BUILD_FUZZ) -j$(JOBS)

# Every fuzz target for FUZZ_SECONDS each (tests/fuzz/README.md); fails on any crash, leak or UB.
fuzz: build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --test-dir $(BUILD_FUZZ) --output-on-failure -j$(JOBS)

# The short run `make test` includes: 10 s per target.
test-fuzz: build-fuzz
	FUZZ_SECONDS=10 ctest --test-dir $(BUILD_FUZZ) --output-on-failure -j$(JOBS)

# Mixed load over every preset with faults injected, on the ASan build (tests/soak/README.md);
# `make test` runs a 2-minute version (ctest's soak.short in the sanitize tree).
soak: deps-test build-sanitize
	SOAK_SECONDS=$(SOAK_SECONDS) UDPX_BIN=$(abspath $(BUILD_SAN))/udpx UDPX_BENCH_LOADGEN=$(abspath $(BUILD_SAN))/udpx_bench_loadgen \
	  UDPX_BENCH_RESPONDER=$(abspath $(BUILD_SAN))/udpx_bench_responder PYTHONDONTWRITEBYTECODE=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  python3 tests/soak/soak.py

# The example config in the foreground; when nothing answers NTP on 127.0.0.1:123, a local
# chronyd (the tests' one, loopback only) is started as its upstream (tools/quickstart.sh).
run: build
	@tools/quickstart.sh $(BUILD)/udpx $(CONFIG)

# Builds only what it installs (the tests are not needed for that).
install: deps $(BUILD)/CMakeCache.txt
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j$(JOBS) --target udpx
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# build/deb/udpx_VERSION_ARCH.deb, built by dpkg-buildpackage from a copy of this tree.
deb: deps-deb
	tools/build-deb.sh $(BUILD)/deb

# Every test (unit + end-to-end against real peers, the built package included), then the whole
# suite again under ASan+UBSan; the Release build is built and runs its unit tests only; every
# fuzz target runs for 10 s (test-fuzz).
test: deps-test build build-sanitize build-release deb test-fuzz
	ctest --test-dir $(BUILD_REL) --output-on-failure -j$(JOBS) -LE e2e
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_SAN) --output-on-failure -j$(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) -LE e2e

# The benchmark (bench/run.sh): direct vs udpx vs nginx vs socat, about 10 minutes; see bench/RESULTS.md.
bench: deps-bench build
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_REL) $(BUILD_FUZZ)

# The README's two commands: `make run` and `make test`. Both install what is missing first.
# Every dependency is a Debian 12 package (the table in ../shared/DESIGN.md; the last line: test and bench tools).

PACKAGES := cmake ninja-build g++ make pkg-config ccache git \
	libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
	libssl-dev openssl libsqlite3-dev libpq-dev postgresql redis-server libsodium-dev libzxcvbn-dev prometheus-cpp-dev libvalijson-dev \
	libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev \
	libcctz-dev tzdata \
	libgtest-dev libgmock-dev libbenchmark-dev \
	clang libclang-rt-14-dev clang-format curl ca-certificates nginx-light wrk sqlite3 jq \
	testssl.sh sqlmap slowhttptest

BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

.PHONY: run test deps build check-format format fuzz security bench clean

run: deps build
	./$(BUILD_DIR)/rampart serve  # creates ./var (mode 0700) itself

test: deps build check-format
	cd $(BUILD_DIR) && ctest --output-on-failure
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory security

# The end-to-end security run (tests/security/run.sh): the release binary with TLS and a seeded database,
# attacked by testssl.sh, sqlmap and slowhttptest, plus hardening checks, wrk load and 10,000 idle
# connections. About 7 minutes on two cores; LOAD_SECONDS and IDLE_CONNECTIONS make it shorter.
LOAD_SECONDS ?= 30
IDLE_CONNECTIONS ?= 10000
security: deps build
	LOAD_SECONDS=$(LOAD_SECONDS) IDLE_CONNECTIONS=$(IDLE_CONNECTIONS) RAMPART_BIN=$(BUILD_DIR)/rampart \
	  PROBE_BIN=$(BUILD_DIR)/rampart_security_probe bash tests/security/run.sh

# Installs only what is missing; without root, prints the exact line to run instead.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:$$missing"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	  else \
	    echo "Missing packages. Run as root:"; \
	    echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi

build:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' 2>/dev/null || find src tests fuzz bench -name '*.[ch]pp')

check-format:
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: ok"

format:
	clang-format -i $(SOURCES)

# libFuzzer targets, built with clang under ASan+UBSan, each run for a bounded time. UBSan's function
# and vptr checks are off: with coverage counters on coroutine code they crash clang 14 ("Cannot
# represent a difference across sections").
fuzz: deps
	@CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAMPART_FUZZ=ON \
	  -DRAMPART_TESTS=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-sanitize=function,vptr -gline-tables-only" \
	  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	@set -e; for f in $(FUZZ_DIR)/*_fuzz; do \
	  name=$$(basename $$f); mkdir -p fuzz/corpus-run/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/ fuzz/corpus-run/$$name fuzz/corpus/$$name 2>$(FUZZ_DIR)/$$name.log \
	    || { tail -50 $(FUZZ_DIR)/$$name.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $(FUZZ_DIR)/$$name.log | tail -2; \
	done

bench: deps build
	bash bench/http.sh
	bash bench/jobs.sh

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR)

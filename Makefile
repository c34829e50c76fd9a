# The README's two commands: `make run` and `make test`. Both install what is missing first.
# Every dependency is a Debian 12 package (the table in ../shared/DESIGN.md; the last line: test and bench tools).

PACKAGES := cmake ninja-build g++ make pkg-config ccache git \
	libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
	libssl-dev openssl libsqlite3-dev libpq-dev postgresql redis-server libsodium-dev libzxcvbn-dev prometheus-cpp-dev libvalijson-dev \
	libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev \
	libcctz-dev tzdata \
	libgtest-dev libgmock-dev libbenchmark-dev \
	clang libclang-rt-14-dev clang-format curl ca-certificates nginx-light wrk sqlite3 jq

BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30

.PHONY: run test deps build check-format format fuzz bench clean

run: deps build
	./$(BUILD_DIR)/rampart serve  # creates ./var (mode 0700) itself

test: deps build check-format
	cd $(BUILD_DIR) && ctest --output-on-failure
	$(MAKE) --no-print-directory fuzz

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

# libFuzzer targets (fuzz/*_fuzz.cpp), built with clang under ASan+UBSan (LeakSanitizer on). For each one:
# first every file in fuzz/regressions/<name>/ runs once (past crashes stay fixed), then the fuzzer runs
# for FUZZ_SECONDS from the checked-in seeds fuzz/corpus/<name>/ (read only) plus the git-ignored scratch
# fuzz/corpus-run/<name>/, where new finds go. A crash, leak, timeout or out-of-memory fails the run and
# leaves the input in $(FUZZ_DIR)/artifacts/; to keep it as a regression test, fix the bug and copy that
# file to fuzz/regressions/<name>/<what-it-broke> (docs/development.md, "Fuzzing"). UBSan's function and
# vptr checks are off: with coverage counters on coroutine code they crash clang 14 ("Cannot represent a
# difference across sections"). FUZZ_SECONDS is per target: 30 s x 7 targets in CI.
FUZZ_FLAGS = -timeout=10 -rss_limit_mb=2048 -detect_leaks=1
fuzz: deps
	@CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAMPART_FUZZ=ON \
	  -DRAMPART_TESTS=OFF "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-sanitize=function,vptr -gline-tables-only" \
	  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	@set -e; mkdir -p $(FUZZ_DIR)/artifacts; for f in $(FUZZ_DIR)/*_fuzz; do \
	  name=$$(basename $$f); log=$(FUZZ_DIR)/$$name.log; \
	  regressions=$$(find fuzz/regressions/$$name -type f 2>/dev/null | sort); \
	  if [ -n "$$regressions" ]; then \
	    echo "fuzz: $$name: $$(echo "$$regressions" | wc -l) regression inputs"; \
	    $$f $(FUZZ_FLAGS) $$regressions >$$log.regressions 2>&1 \
	      || { tail -50 $$log.regressions; echo "fuzz: $$name FAILED on a regression input in fuzz/regressions/$$name"; exit 1; }; \
	  fi; \
	  mkdir -p fuzz/corpus-run/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$name- fuzz/corpus-run/$$name fuzz/corpus/$$name 2>$$log \
	    || { tail -50 $$log; \
	         echo "fuzz: $$name FAILED; the input: $$(grep -o "$(FUZZ_DIR)/artifacts/[^ ]*" $$log | tail -1)"; \
	         echo "fuzz: once fixed, keep it: cp <that file> fuzz/regressions/$$name/<what-it-broke>"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $$log | tail -2; \
	done

bench: deps build
	bash bench/http.sh
	bash bench/jobs.sh

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR)

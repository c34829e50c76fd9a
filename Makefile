# The README's two commands: `make run` and `make test`. Both install what is missing first.
# Every dependency is a Debian 12 package (docs/development.md; the last lines: test, bench and lint tools).

# Debian's nodejs comes without npm (the npm package); NodeSource's bundles it and conflicts with Debian's
# npm, so npm is asked for only when no npm command is there. make openapi-lint uses them.
NPM_PACKAGE := $(if $(shell command -v npm 2>/dev/null),,npm)
PACKAGES := cmake ninja-build g++ make pkg-config ccache git \
	libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
	libssl-dev openssl libsqlite3-dev libpq-dev postgresql redis-server libsodium-dev libargon2-dev libzxcvbn-dev prometheus-cpp-dev libvalijson-dev \
	libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev \
	libcctz-dev tzdata \
	libgtest-dev libgmock-dev libbenchmark-dev \
	clang libclang-rt-14-dev clang-format curl ca-certificates nginx-light systemd wrk sqlite3 jq \
	testssl.sh sqlmap slowhttptest prometheus \
	python3 python3-requests python3-pytest python3-setuptools python3-pip python3-venv python3-celery python3-redis \
	nodejs $(NPM_PACKAGE)

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20

.PHONY: run test deps build layers check-format security-table format fuzz security sanitize tsan bench bench-peers bench-scripts clean python-sdk \
	openapi-lint deploy-check alerts-check otlp-receiver

run: deps build
	./$(BUILD_DIR)/rampart serve  # creates ./var (mode 0700) itself

# Each stage prints how long it took ("stage NAME: N s"), so a run that nears CI's 90 minutes shows where.
STAGE = @start=$$(date +%s); $(1) || exit $$?; echo "stage $(2): $$(( $$(date +%s) - start )) s"
test: deps
	$(call STAGE,$(MAKE) --no-print-directory build,build)
	$(call STAGE,$(MAKE) --no-print-directory layers check-format security-table,layers and format)
	$(call STAGE,$(MAKE) --no-print-directory alerts-check,alert rules)
	$(call STAGE,$(MAKE) --no-print-directory otlp-receiver && cd $(BUILD_DIR) && ctest --output-on-failure,ctest)
	$(call STAGE,$(MAKE) --no-print-directory python-sdk,python sdk)
	$(call STAGE,$(MAKE) --no-print-directory openapi-lint,openapi lint)
	$(call STAGE,$(MAKE) --no-print-directory deploy-check,deploy check)
	$(call STAGE,$(MAKE) --no-print-directory security,security)
	$(call STAGE,$(MAKE) --no-print-directory fuzz,fuzz)
	$(call STAGE,$(MAKE) --no-print-directory sanitize,sanitize)
	$(call STAGE,$(MAKE) --no-print-directory tsan,tsan)

# The layers of src/ (docs/architecture.md): every include goes down (tools/layers.sh), and the binary holds
# no test support code (src/testing/ is linked by test targets only).
layers: build
	@bash tools/layers.sh
	@if nm -C $(BUILD_DIR)/rampart | grep -q 'rampart::testing::'; then \
	  echo "layers: FAILED: the rampart binary contains test support code (rampart::testing)"; exit 1; \
	else echo "layers: the rampart binary contains no test support code"; fi

# The Python SDK (clients/python, docs/python.md): its tests against this build's binary, then the offline
# install a user does (no package index: Debian's setuptools builds it, PIP_NO_INDEX keeps pip off the network).
# /usr/bin/python3 is Debian's, which sees python3-requests and python3-pytest whatever python3 is first on PATH.
# Some tests run twice, the second time on a PostgreSQL they start (postgresql); tests/test_celery_port.py runs
# examples/celery-port on Celery too, with a redis-server it starts (python3-celery, python3-redis).
PYTHON ?= /usr/bin/python3
python-sdk: deps build
	cd clients/python && RAMPART_BINARY=$(abspath $(BUILD_DIR))/rampart $(PYTHON) -m pytest -q -p no:cacheprovider tests
	rm -rf $(BUILD_DIR)/sdkvenv && $(PYTHON) -m venv --system-site-packages $(BUILD_DIR)/sdkvenv
	PIP_NO_INDEX=1 $(BUILD_DIR)/sdkvenv/bin/pip install -q --no-build-isolation ./clients/python
	$(BUILD_DIR)/sdkvenv/bin/python -c 'import rampart; print("python sdk: installed rampart-client", rampart.__version__)'

# The OpenAPI document the binary serves (GET /openapi.json, fetched by tools/openapi/fetch.sh) must pass
# Redocly's recommended rules (redocly.yaml). The CLI is pinned by tools/openapi/package-lock.json and
# installed from the npm registry with `npm ci` into $(BUILD_DIR)/openapi-tools (git-ignored), again only
# when the lock file changes. @redocly/cli 2.x wants Node.js 20.19 or newer.
OPENAPI_TOOLS = $(BUILD_DIR)/openapi-tools
REDOCLY = $(OPENAPI_TOOLS)/node_modules/.bin/redocly
$(REDOCLY): tools/openapi/package.json tools/openapi/package-lock.json
	rm -rf $(OPENAPI_TOOLS) && mkdir -p $(OPENAPI_TOOLS)
	cp tools/openapi/package.json tools/openapi/package-lock.json $(OPENAPI_TOOLS)/
	cd $(OPENAPI_TOOLS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@
openapi-lint: deps build $(REDOCLY)
	bash tools/openapi/fetch.sh $(BUILD_DIR)/rampart $(BUILD_DIR)/openapi.json
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --config redocly.yaml $(BUILD_DIR)/openapi.json

# The test OTLP receiver (tests/otlp/receiver.js; src/testing/otlp_receiver.hpp) decodes what the exporter
# sends with the official generated code of opentelemetry-proto, from @opentelemetry/otlp-proto-exporter-base
# pinned by tests/otlp/package-lock.json and installed with `npm ci` into tests/otlp/node_modules
# (git-ignored; one copy for every build directory: the sanitizer builds' tests use it too), again only
# when the lock file changes. ctest, sanitize and tsan need it: they install it first.
OTLP_RECEIVER = tests/otlp/node_modules/.installed
$(OTLP_RECEIVER): tests/otlp/package.json tests/otlp/package-lock.json
	rm -rf tests/otlp/node_modules
	cd tests/otlp && npm ci --ignore-scripts --no-audit --no-fund
	touch $@
otlp-receiver: deps $(OTLP_RECEIVER)

# The deployment files (deploy/, docs/deployment.md), offline: `systemd-analyze verify` (no warning allowed)
# and `systemd-analyze security --offline=true` on deploy/systemd/rampart.service, whose exposure score must
# stay at or below DEPLOY_MAX_EXPOSURE (1.1 on Debian 12's systemd 252), and `nginx -t` on
# deploy/nginx/rampart.conf with a self-signed certificate (tools/deploy_check.sh). The integration test
# ReverseProxyTest runs that nginx file in front of the binary.
DEPLOY_MAX_EXPOSURE ?= 1.5
deploy-check: deps build
	bash tools/deploy_check.sh $(BUILD_DIR)/rampart $(DEPLOY_MAX_EXPOSURE)

# The end-to-end security run (tests/security/run.sh): the release binary with TLS and a seeded database,
# attacked by testssl.sh, sqlmap and slowhttptest, plus hardening checks, wrk load and 10,000 idle
# connections. About 7 minutes on two cores; LOAD_SECONDS and IDLE_CONNECTIONS make it shorter.
LOAD_SECONDS ?= 30
IDLE_CONNECTIONS ?= 10000
security: deps build
	LOAD_SECONDS=$(LOAD_SECONDS) IDLE_CONNECTIONS=$(IDLE_CONNECTIONS) RAMPART_BIN=$(BUILD_DIR)/rampart \
	  PROBE_BIN=$(BUILD_DIR)/rampart_security_probe bash tests/security/run.sh

# The Prometheus alert rules (deploy/prometheus/alerts.yml, docs/operations.md): valid, and their unit tests
# (alerts_test.yml: made-up series, the alerts that must and must not fire) pass. promtool is in prometheus.
alerts-check: deps
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

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
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAMPART_WERROR=ON >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)

# docs/security.md's checklist table names the tests that prove each item: every name (or pattern) must
# match a test the built suites list, and every enforced item must name one (tools/security_table.py).
security-table: build
	@$(PYTHON) tools/security_table.py docs/security.md $(BUILD_DIR)/rampart_unit_tests $(BUILD_DIR)/rampart_integration_tests

SOURCES = $(shell git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' 2>/dev/null || find src tests fuzz bench -name '*.[ch]pp')

check-format:
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: ok"

format:
	clang-format -i $(SOURCES)

# libFuzzer targets (fuzz/*_fuzz.cpp), built in the ASan+UBSan tree of `make sanitize` (below; LeakSanitizer
# on). For each one:
# first every file in fuzz/regressions/<name>/ runs once (past crashes stay fixed), then the fuzzer runs
# for FUZZ_SECONDS from the checked-in seeds fuzz/corpus/<name>/ (read only) plus the git-ignored scratch
# fuzz/corpus-run/<name>/, where new finds go. A crash, leak, timeout or out-of-memory fails the run and
# leaves the input in $(FUZZ_ARTIFACTS)/; to keep it as a regression test, fix the bug and copy that
# file to fuzz/regressions/<name>/<what-it-broke> (docs/development.md, "Fuzzing").
# FUZZ_SECONDS is per target: 20 s x 7 targets in CI (30 until the CI run neared its 75-minute budget).
FUZZ_FLAGS = -timeout=10 -rss_limit_mb=2048 -detect_leaks=1
FUZZERS = $(basename $(notdir $(wildcard fuzz/*_fuzz.cpp)))
FUZZ_ARTIFACTS = $(ASAN_DIR)/fuzz-artifacts
fuzz: deps
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_DIR) -j $(JOBS) --target $(FUZZERS)
	@set -e; mkdir -p $(FUZZ_ARTIFACTS); for name in $(FUZZERS); do \
	  f=$(ASAN_DIR)/$$name; log=$(ASAN_DIR)/$$name.log; \
	  regressions=$$(find fuzz/regressions/$$name -type f 2>/dev/null | sort); \
	  if [ -n "$$regressions" ]; then \
	    echo "fuzz: $$name: $$(echo "$$regressions" | wc -l) regression inputs"; \
	    $$f $(FUZZ_FLAGS) $$regressions >$$log.regressions 2>&1 \
	      || { tail -50 $$log.regressions; echo "fuzz: $$name FAILED on a regression input in fuzz/regressions/$$name"; exit 1; }; \
	  fi; \
	  mkdir -p fuzz/corpus-run/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_ARTIFACTS)/$$name- fuzz/corpus-run/$$name fuzz/corpus/$$name 2>$$log \
	    || { tail -50 $$log; \
	         echo "fuzz: $$name FAILED; the input: $$(grep -o "$(FUZZ_ARTIFACTS)/[^ ]*" $$log | tail -1)"; \
	         echo "fuzz: once fixed, keep it: cp <that file> fuzz/regressions/$$name/<what-it-broke>"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $$log | tail -2; \
	done

# ---- Sanitizers (docs/development.md, Sanitizers) ---------------------------------------------------
# `make sanitize`: the whole unit and integration suites (and the rampart binary they start) built
# with clang under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included). `make tsan`: the
# concurrency tests under ThreadSanitizer. clang 14 rather than g++ 12 (g++ 12's coroutines under
# ASan are unreliable); -O1 with line tables only keeps the build cheap and the stacks readable.
# The ASan tree also builds the fuzzers (`make fuzz`), so its code carries libFuzzer's coverage counters
# (fuzzer-no-link): one build of the whole tree instead of two; what the counters cost the tests is not measured yet.
# UBSan's function and vptr checks are off: with coverage counters on coroutine code they crash clang 14
# ("Cannot represent a difference across sections").
# Every sanitizer writes its reports to <build dir>/sanitizer-reports/report.<pid> (log_path), whichever process
# found them: a report in a server the integration tests started fails the run even when the test
# itself passed. Suppressions (sanitizers/*.supp) are for third-party code only, one reason a line.
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
SAN_CXX ?= clang++
SAN_REPORTS = $(CURDIR)/$(1)/sanitizer-reports
SAN_COMMON_FLAGS = -O1 -gline-tables-only -fno-omit-frame-pointer
ASAN_FLAGS = $(SAN_COMMON_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function,vptr -fno-sanitize-recover=all
TSAN_FLAGS = $(SAN_COMMON_FLAGS) -fsanitize=thread
SAN_TARGETS = rampart rampart_unit_tests rampart_integration_tests
ASAN_CONFIGURE = @CXX=$(SAN_CXX) cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Sanitize -DRAMPART_TESTS=ON -DRAMPART_FUZZ=ON \
	  -DRAMPART_WERROR=ON "-DCMAKE_CXX_FLAGS=$(ASAN_FLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:log_path=$(call SAN_REPORTS,$(ASAN_DIR))/report \
	LSAN_OPTIONS=suppressions=$(CURDIR)/sanitizers/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(call SAN_REPORTS,$(ASAN_DIR))/report
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/sanitizers/tsan.supp:log_path=$(call SAN_REPORTS,$(TSAN_DIR))/report
# ThreadSanitizer runs the tests whose code shares memory between threads, and nothing else (it is
# 5-15x slower and the single-threaded parsers gain nothing from it): the bounded pools (password
# hashes, key reloads, handed between a network thread and the pool's), the worker pool and the lease
# service (job claiming), the scheduler (leader lease, ticks racing on both stores), the rate
# limiters (sharded in-memory GCRA, the Redis limiter and its fallback), the Redis client (a
# connection shared by coroutines on several threads), both stores' conformance suites (SQLite's
# connection pool, PostgreSQL's) and the job service on top of them, the OTLP exporter's queue; in the
# integration suite, the HTTP server itself (plain and TLS, its worker threads, keep-alive, shutdown)
# and the worker API. Its test executables are built from the files holding those tests only
# (TSAN_*_SOURCES, the CMake options RAMPART_*_TEST_SOURCES): a suite added to a filter needs its file here.
# `make sanitize SANITIZE_FILTER='JwtTest.*'` runs only the matching tests (of both suites) by hand.
SANITIZE_FILTER ?= *
TSAN_UNIT_FILTER = BoundedPool.*:IdentityServicesTest.AFullHashingPool*:IdentityServicesTest.ManyRequestsWithForgedKids*:WorkerPoolTest.*:LeaseServiceTest.*:WaitingLeaseTest.*:LeaseWaitersTest.*:LeaseWaitersRecheck.*:SchedulerTest.*:SchedulerPostgresTest.*:MemoryLimiter.*:FallbackLimiterTest.*:RedisLimiterTest.*:PerThreadRedisLimiterTest.*:RateLimitTest.*:RedisClient.*:RedisClientTls.*:Backends/*:SqliteStoreTest.*:PostgresStoreTest.*:PgConnectionTest.*:JobServiceTest.*:RecentJobs.*:RetentionTest.*:OtlpExporterTest.*:JobTracingTest.*:TakenBackRunTest.*
TSAN_UNIT_SOURCES = src/core/bounded_pool_test.cpp src/identity/identity_services_test.cpp src/jobs/worker_pool_test.cpp \
	src/jobs/lease_service_test.cpp src/jobs/lease_waiters_test.cpp src/jobs/scheduler_test.cpp src/jobs/scheduler_pgtest.cpp \
	src/ratelimit/memory_limiter_test.cpp src/ratelimit/fallback_limiter_test.cpp src/ratelimit/redis_limiter_redistest.cpp \
	src/http/middleware/rate_limit_test.cpp src/redis/client_redistest.cpp src/store/store_conformance_test.cpp \
	src/store/sqlite/sqlite_store_test.cpp src/store/postgres/postgres_store_pgtest.cpp src/store/postgres/pg_connection_pgtest.cpp \
	src/jobs/job_service_test.cpp src/jobs/recent_jobs_test.cpp src/app/retention_test.cpp src/otlp/exporter_test.cpp \
	src/jobs/job_tracing_test.cpp
TSAN_INTEGRATION_FILTER = ServerTest.*:TlsServerTest.*:WorkerApiTest.*:WorkerNodeTest.*
TSAN_INTEGRATION_SOURCES = tests/integration/server_test.cpp tests/integration/worker_api_test.cpp tests/integration/cluster_test.cpp
cmake_list = $(subst $(eval) ,;,$(strip $(1)))

# $(call san_run,DIR,ENV,COMMAND): runs COMMAND with the sanitizer options; fails on its status or
# on any report file.
define san_run
	@rm -rf $(call SAN_REPORTS,$(1)) && mkdir -p $(call SAN_REPORTS,$(1))
	@status=0; $(2) $(3) || status=$$?; \
	if [ -n "$$(ls -A $(call SAN_REPORTS,$(1)))" ]; then \
	  for f in $(call SAN_REPORTS,$(1))/*; do echo "==== $$f"; head -c 20000 $$f; done; \
	  echo "sanitizer reports above (kept in $(call SAN_REPORTS,$(1)))"; exit 1; \
	fi; exit $$status
endef

sanitize: deps $(OTLP_RECEIVER)
	$(ASAN_CONFIGURE)
	cmake --build $(ASAN_DIR) -j $(JOBS) --target $(SAN_TARGETS)
	$(call san_run,$(ASAN_DIR),$(ASAN_ENV),./$(ASAN_DIR)/rampart_unit_tests --gtest_brief=1 '--gtest_filter=$(SANITIZE_FILTER)')
	$(call san_run,$(ASAN_DIR),$(ASAN_ENV),./$(ASAN_DIR)/rampart_integration_tests --gtest_brief=1 '--gtest_filter=$(SANITIZE_FILTER)')

tsan: deps $(OTLP_RECEIVER)
	@CXX=$(SAN_CXX) cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Sanitize -DRAMPART_TESTS=ON -DRAMPART_WERROR=ON \
	  "-DRAMPART_UNIT_TEST_SOURCES=$(call cmake_list,$(TSAN_UNIT_SOURCES))" \
	  "-DRAMPART_INTEGRATION_TEST_SOURCES=$(call cmake_list,$(TSAN_INTEGRATION_SOURCES))" \
	  "-DCMAKE_CXX_FLAGS=$(TSAN_FLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" >/dev/null
	cmake --build $(TSAN_DIR) -j $(JOBS) --target $(SAN_TARGETS)
	$(call san_run,$(TSAN_DIR),$(TSAN_ENV),./$(TSAN_DIR)/rampart_unit_tests --gtest_brief=1 '--gtest_filter=$(TSAN_UNIT_FILTER)')
	$(call san_run,$(TSAN_DIR),$(TSAN_ENV),./$(TSAN_DIR)/rampart_integration_tests --gtest_brief=1 '--gtest_filter=$(TSAN_INTEGRATION_FILTER)')
# ---- end of sanitizers ----------------------------------------------------------------------------

# `make bench`: Rampart and its peers (nginx, BullMQ, Celery) on this machine in one run, then one table of
# Rampart's figures, the peers' and the ratios (bench/peers/run.sh; docs/benchmarks.md). Not part of `make test`.
# BullMQ is pinned by bench/peers/bullmq/package-lock.json and installed from the npm registry with `npm ci`
# into bench/peers/bullmq/node_modules (git-ignored), again only when the lock file changes; nginx-light,
# redis-server, python3-celery and python3-redis are Debian packages (deps).
BULLMQ = bench/peers/bullmq/node_modules/.installed
$(BULLMQ): bench/peers/bullmq/package.json bench/peers/bullmq/package-lock.json
	cd bench/peers/bullmq && npm ci --ignore-scripts --no-audit --no-fund
	touch $@
bench-peers: deps $(BULLMQ)

bench: deps build bench-peers
	bash bench/peers/run.sh

# The other bench scripts, each with its own figures (docs/benchmarks.md).
bench-scripts: deps build
	bash bench/http.sh
	bash bench/jobs.sh
	bash bench/python_worker.sh
	bash bench/long_poll.sh
	bash bench/scale.sh

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)

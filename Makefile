# Hygie: build, run and test. Every target installs what it needs first (Debian 12, as root).
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= 2
DATA ?= var/data
LISTEN ?= 127.0.0.1:8080
TENANT ?= demo

.PHONY: all deps build run test test-long test-unit test-e2e test-sanitize fuzz format format-check bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

# Starts the server on the embedded default (SQLite in $(DATA)), with a demo tenant, and prints
# a token to use against it.
# Builds the hygie binary and its libraries only (no tests, no benchmarks).
run: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS) hygie
	@if [ ! -f $(DATA)/hygie.json ]; then $(BUILD)/hygie init --data $(DATA); fi
	@$(BUILD)/hygie tenant list --data $(DATA) | grep -qx $(TENANT) || \
	  $(BUILD)/hygie tenant create $(TENANT) --data $(DATA)
	@echo "Token for tenant '$(TENANT)' (1 hour, all resource types):"
	@$(BUILD)/hygie token issue --data $(DATA) --tenant $(TENANT) --scope 'user/*.cruds' --ttl 1h
	@echo "Try: curl -H \"Authorization: Bearer \$$TOKEN\" http://$(LISTEN)/fhir/$(TENANT)/metadata"
	$(BUILD)/hygie serve --data $(DATA) --listen $(LISTEN)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) --timeout 900

# The opt-in long suite (not in CI): TLS as testssl.sh scans it (about a minute).
test-long: build
	bash tests/tls/testssl.sh $(BUILD)

# The same suite built with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHYGIE_SANITIZE=ON
	ninja -C $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  HYGIE_TEST_SANITIZED=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) --timeout 1800

# The libFuzzer targets of fuzz/ (clang, AddressSanitizer, UndefinedBehaviorSanitizer), each run
# for FUZZ_SECONDS with its seed corpus fuzz/corpus/<name>/ (new inputs and findings go to
# $(FUZZ_BUILD)/fuzz-work/, not the tree); fails on any crash, leak, timeout or out-of-memory.
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DHYGIE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	ninja -C $(FUZZ_BUILD) -j $(JOBS)
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(JOBS)

FORMAT_FILES = $(shell git ls-files '*.cc' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check: deps
	clang-format --dry-run --Werror $(FORMAT_FILES)

bench: build
	bash bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

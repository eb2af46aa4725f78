# liqplatform — `make run` starts the platform with sample data, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run serve test venv services check lint typecheck pytest bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt scripts/find-python
	@set -e; python=$$(scripts/find-python); \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		echo "Creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

services:
	@scripts/services.sh ensure

run: venv
	@scripts/run.sh

serve: venv
	@scripts/serve.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: venv
	LIQ_TESTING=1 $(VENV)/bin/mypy .

pytest: venv services
	@scripts/browser-deps.sh
	LIQ_TESTING=1 $(VENV)/bin/pytest

test: venv services lint typecheck pytest

bench: venv services
	@scripts/bench-deps.sh
	taskset -c 0 $(PY) bench/bench_engine.py
	taskset -c 0 $(PY) bench/bench_alerts.py
	-LIQ_TESTING=1 taskset -c 0 $(PY) bench/bench_alert_cycle.py  # exits 1 when it misses its target; the rest still runs
	LIQ_TESTING=1 taskset -c 0 $(PY) bench/bench_alert_history.py
	taskset -c 0 $(PY) bench/bench_backtest.py
	taskset -c 0 $(PY) bench/bench_year_science.py
	$(PY) bench/bench_startup.py
	$(PY) bench/bench_from_files.py
	LIQ_TESTING=1 $(PY) bench/bench_queries.py
	LIQ_TESTING=1 $(PY) bench/bench_ingest.py
	$(PY) bench/bench_load.py
	$(PY) bench/bench_freshness.py
	LIQ_TESTING=1 taskset -c 0 $(PY) bench/bench_api.py
	LIQ_TESTING=1 taskset -c 0 $(PY) bench/bench_explorer.py
	LIQ_TESTING=1 $(PY) bench/bench_models.py
	LIQ_TESTING=1 $(PY) bench/bench_pages.py
	LIQ_TESTING=1 $(PY) bench/bench_partitions.py
	$(PY) bench/bench_sse.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

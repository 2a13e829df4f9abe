# Shipyard developer commands. Each target creates the virtualenv on first use.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: demo test lint bench soak server clean install

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Shipyard needs Python 3.11+; set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: log a set of scikit-learn experiments into the embedded store, then serve the web UI
demo: $(STAMP)
	$(PY) examples/demo.py
	$(PY) -m shipyard server --host $(HOST) --port $(PORT)

## test: lint, then the whole test suite (PostgreSQL and browser tests skip with a reason when unavailable)
# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop on its thread,
# which would clash with the async artifact tests if xdist put both on one worker.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(PY) -m pytest -n 2 -m "not browser" -q -rs
	$(PY) -m pytest -m browser -q -rs

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## bench: Shipyard's server vs MLflow's (same client, same SQLite set-up), then the SDK vs MLflow's fluent API,
## then server memory while streaming a 2 GB artifact (ARTIFACT_BENCH_ARGS="--size-mb 256" for a quick run), ...,
## and run search at 100,000 runs on a never-analysed PostgreSQL database (SCALE_BENCH_ARGS=--quick: 10,000)
bench: $(STAMP)
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/sdk.py $(BENCH_ARGS)
	$(PY) bench/artifact_memory.py $(ARTIFACT_BENCH_ARGS)
	$(PY) bench/auth_overhead.py $(BENCH_ARGS)
	$(PY) bench/batch_scoring.py $(BATCH_BENCH_ARGS)
	$(PY) bench/serving_speed.py $(SERVING_BENCH_ARGS)
	$(PY) bench/monitoring_drift.py $(DRIFT_BENCH_ARGS)
	$(PY) bench/monitoring_profile.py $(PROFILE_BENCH_ARGS)
	$(PY) bench/search_scale.py $(SCALE_BENCH_ARGS)
	$(PY) bench/sdk_outage.py $(OUTAGE_BENCH_ARGS)

## soak: 30 minutes of mixed load on PostgreSQL with 4 workers, a worker killed every 5 minutes, then an
## exactly-once check (not in CI; SOAK_ARGS="--quick" for 3 minutes, "--target mlflow" for MLflow's server)
soak: $(STAMP)
	$(PY) bench/soak.py $(SOAK_ARGS)

server: $(STAMP)
	$(PY) -m shipyard server --host $(HOST) --port $(PORT)

clean:
	rm -rf $(VENV) .shipyard .pytest_cache .mypy_cache .ruff_cache

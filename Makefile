# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
LOAD_SECONDS ?= 60

.PHONY: run test lint bench load audit

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) scripts/run-demo

test: $(VENV)/.installed
	scripts/ensure-postgres
	scripts/ensure-zookeeper >/dev/null
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff format --check .

# every benchmark, bounded, into bench/RESULTS.md
bench: $(VENV)/.installed
	scripts/ensure-postgres
	$(BIN)/python -m bench.all

# 32 clients for 60 s against gunicorn (4 workers) on PostgreSQL, then a check of the database
load: $(VENV)/.installed
	scripts/ensure-postgres
	$(BIN)/python -m bench.load --seconds $(LOAD_SECONDS)

# known vulnerabilities in the runtime pins (needs the PyPI vulnerability service)
audit: $(VENV)/.installed
	$(BIN)/pip-audit -r requirements.txt --no-deps --disable-pip --progress-spinner off

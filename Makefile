# One command to run, one to test. Both install what is missing and are quick the second time.
# DATABASE_URL and CELERY_BROKER_URL point the project at your own PostgreSQL (with TimescaleDB) and Redis;
# the local cluster and Redis are then left alone.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test bench lint services stop-services system venv migrate clean-db

run: system venv services
	@bash scripts/run.sh

test: system-browser venv services
	ruff check .
	pytest $(PYTEST_ARGS)

# The long runs `make test` leaves out: the tests marked soak, and every Hypothesis test (the fuzz tests read
# PMS_FUZZ_EXAMPLES through tests/reliability/fuzzing.py) with ten times the examples.
.PHONY: soak
soak: system venv services
	PMS_FUZZ_EXAMPLES=10000 pytest -m "soak or hypothesis" --timeout 3600 $(PYTEST_ARGS)

bench: system venv services
	$(PY) -m bench

lint: venv
	ruff check .

system:
	@bash scripts/ensure-system.sh

system-browser:
	@bash scripts/ensure-system.sh --browser

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "==> Installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

services:
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/install-postgres.sh && bash scripts/db.sh start; fi
	@bash scripts/ensure-redis.sh

stop-services:
	@bash scripts/db.sh stop

migrate: venv services
	$(PY) manage.py migrate --no-input

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

# The whole suite (no PYTEST_ARGS) then runs the page tests again, reading through a real streaming replica
# (test-replica below), unless DATABASE_URL is your own server and DATABASE_REPLICA_URL names no replica.
test: system-browser venv services
	ruff check .
	pytest $(PYTEST_ARGS)
	@if [ -n "$(PYTEST_ARGS)" ]; then :; \
	elif [ -n "$$DATABASE_URL" ] && [ -z "$$DATABASE_REPLICA_URL" ]; then \
		echo "==> the replica's page tests are skipped: set DATABASE_REPLICA_URL to a replica of DATABASE_URL"; \
	else $(MAKE) --no-print-directory test-replica; fi

# The long runs `make test` leaves out: the tests marked soak, and every Hypothesis test (the fuzz tests read
# PMS_FUZZ_EXAMPLES through tests/reliability/fuzzing.py) with ten times the examples.
.PHONY: soak
soak: system venv services
	PMS_FUZZ_EXAMPLES=10000 pytest -m "soak or hypothesis" --timeout 3600 $(PYTEST_ARGS)

# The page tests (tests/web, without the browser) with their reads through a real streaming replica: of the
# local cluster (scripts/db.sh replica start), or DATABASE_REPLICA_URL's when DATABASE_URL is your own.
.PHONY: test-replica
test-replica: venv services
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/db.sh replica start; \
	elif [ -z "$$DATABASE_REPLICA_URL" ]; then echo "DATABASE_URL is set: set DATABASE_REPLICA_URL to its replica" >&2; exit 2; fi
	DATABASE_REPLICA_URL=$${DATABASE_REPLICA_URL:-$$(bash scripts/db.sh replica url)} pytest -m "not browser" tests/web $(PYTEST_ARGS)

# `make bench` runs every benchmark but scale; `make bench scale` (or `make bench http web`) the ones named.
BENCH_NAMES := pipeline http web fleet worker scale reattribution analytics
BENCH_ARGS := $(filter $(BENCH_NAMES),$(MAKECMDGOALS))
# The ingest and worker tests with Django's psycopg connection pool (DATABASE_POOL=psycopg, docs/scaling.md).
.PHONY: test-pool
test-pool: venv services
	DATABASE_POOL=psycopg pytest tests/telemetry/test_ingest_pipeline.py tests/telemetry/test_batch_groups.py \
		tests/reliability/test_worker_kill.py tests/reliability/test_batch_isolation.py $(PYTEST_ARGS)

bench: system venv services
	@if [[ " $(BENCH_ARGS) " == *" scale "* ]]; then bash scripts/ensure-system.sh --haproxy; fi
	$(PY) -m bench $(BENCH_ARGS)

ifneq ($(filter bench,$(MAKECMDGOALS)),)
.PHONY: $(BENCH_NAMES)
$(BENCH_NAMES):
	@:
endif

lint: venv
	ruff check .

system:
	@bash scripts/ensure-system.sh

system-browser:
	@bash scripts/ensure-system.sh --browser

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "==> Installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

services:
	@if [ -z "$$DATABASE_URL" ]; then bash scripts/install-postgres.sh && bash scripts/db.sh start; fi
	@bash scripts/ensure-redis.sh

stop-services:
	@bash scripts/db.sh stop

migrate: venv services
	$(PY) manage.py migrate --no-input

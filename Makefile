# loanstream: the whole real stack on one machine, without Docker.
#
#   make setup    .venv, Debian postgresql + chromium (if missing), Kafka jars, the schema
#                 registry (Apicurio; needs Java 21+), the native scorer (Rust), data/landing,
#                 the broker's TLS files (idempotent)
#   make up       random passwords into .env if unset; start Kafka, Postgres, the schema
#                 registry, Airflow
#   make demo     setup + up, then run the pipeline DAG on the shipped sample
#   make test     setup, Rust unit tests, up, then pytest over tests/ (CI=true: `make down` afterwards);
#                 TESTS=tests/unit PYTEST_ARGS='-x -k name' narrow it
#   make status | down | clean | lint | native-test | chaos | bench
#   LOANSTREAM_KAFKA_BROKERS=3 make up      three Kafka brokers (docs/SCALING.md)
#   LOANSTREAM_EXECUTOR=celery make up      CeleryExecutor, LOANSTREAM_CELERY_WORKERS workers
#
# Configuration: .env (if present) over .env.example; see docs/OPERATIONS.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV := scripts/env.sh
STACK := $(ENV) $(PY) -m devstack
VENV_STAMP := $(VENV)/.loanstream-setup.stamp
TESTS ?= tests
PYTEST_ARGS ?=

.PHONY: help setup up down status demo test native-test chaos lint bench clean

help:
	@sed -n "3,15p" Makefile | sed 's/^# \{0,1\}//'

setup: $(VENV_STAMP)
	@scripts/setup.sh system kafka registry compose native dirs tls

$(VENV_STAMP): requirements.txt pyproject.toml
	@PYTHON=$(PYTHON) scripts/setup.sh venv

# passwords not set yet are generated into .env first, so env.sh exports them
up:
	@$(PYTHON) -m devstack secrets
	@$(STACK) up

down:
	@$(STACK) down

status:
	@$(STACK) status

demo: setup up
	@$(ENV) $(PY) scripts/demo.py

# pytest's exit code is kept (5 = no tests collected fails too); under CI the stack is
# stopped afterwards, locally it stays up so the next run starts at once.
test: setup native-test up
	@rc=0; $(ENV) $(PY) -m pytest $(TESTS) $(PYTEST_ARGS) || rc=$$?; \
	if [ "$${CI:-}" = "true" ]; then $(STACK) down || true; fi; \
	exit $$rc

chaos: setup up
	@LOANSTREAM_CHAOS_TRIALS=$${LOANSTREAM_CHAOS_TRIALS:-20} $(ENV) $(PY) -m pytest -m "chaos or cluster" $(TESTS) $(PYTEST_ARGS)

# The native crate's Rust unit tests (without extension-module, so the test binary links).
native-test: $(VENV_STAMP)
	@if command -v cargo >/dev/null 2>&1; then PYO3_PYTHON=$(abspath $(PY)) cargo test --quiet --locked \
	--no-default-features --manifest-path native/Cargo.toml; fi

lint: $(VENV_STAMP)
	@$(VENV)/bin/ruff check .
	@if command -v cargo >/dev/null 2>&1; then cargo fmt --check --manifest-path native/Cargo.toml && \
	PYO3_PYTHON=$(PY) cargo clippy --quiet --release --locked --manifest-path native/Cargo.toml -- -D warnings; fi
	@$(MAKE) --no-print-directory native-test
	@bash -n scripts/*.sh .ci/run
	@$(PYTHON) -m devstack.prometheus check

bench: setup up
	@if [ -f bench/run_all.py ]; then $(ENV) $(PY) bench/run_all.py; \
	else echo "bench/run_all.py not written yet: nothing to run"; fi

clean:
	@$(STACK) clean

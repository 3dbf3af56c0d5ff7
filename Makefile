# Paddock developer commands. `make run` and `make test` work from a fresh clone on a machine
# with Python 3.11+, Java 17 and Maven (see README.md).

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
BOOTSTRAP := .cache/bootstrap
UV ?= $(or $(shell command -v uv 2>/dev/null),$(BOOTSTRAP)/bin/uv)
PY := .venv/bin/python
# Only package registries are reachable: never let uv try to download a Python build.
export UV_PYTHON_DOWNLOADS := never

.PHONY: help venv kafka-jars postgres redis chromium run test lint bench k8s-validate clean

help:
	@echo "make run | test | lint | bench | bench-<name> | k8s-validate | kafka-jars | venv | clean"

$(BOOTSTRAP)/bin/uv:
	python3 -m venv $(BOOTSTRAP)
	$(BOOTSTRAP)/bin/pip install -q uv==$(UV_VERSION)

venv: $(UV)
	$(UV) sync --frozen

kafka-jars: venv
	$(PY) -m devstack.kafka jars

postgres: venv
	$(PY) -m devstack.postgres ensure

redis: venv
	$(PY) -m devstack.redis ensure

chromium: venv
	$(PY) -m devstack.chromium ensure

run: venv kafka-jars
	$(PY) deploy/local/run.py

test: venv kafka-jars postgres redis chromium
	.venv/bin/pytest -q -n 2
	$(MAKE) --no-print-directory k8s-validate

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy kit services gateway contracts devstack tests tools
	.venv/bin/lint-imports

bench: venv kafka-jars postgres
	@set -e; for script in bench/*/run.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; exit 0; }; \
		echo "== $$script"; $(PY) "$$script"; \
	done

bench-%: venv kafka-jars postgres
	$(PY) bench/$*/run.py $(BENCH_ARGS)

k8s-validate: venv
	$(PY) deploy/k8s/validate.py

clean:
	rm -rf .venv .cache .data .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

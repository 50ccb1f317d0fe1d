# loadkit — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck format bench clean venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(DEMO_STAMP)

venv: $(STAMP)

## make demo: start the demo shop, rehearse the on-sale against it, print the verdict.
demo: $(DEMO_STAMP)
	$(VENV)/bin/loadkit demo

## make test: lint, type-check, then the whole suite (tests/suite.py): the unit layer, then the
## real-load layers (integration, notebooks, browser, netns), each on both cores at once; then
## the `exclusive` tests, which time real work to the millisecond, alone.
test: $(STAMP) lint
	$(PY) -m tests.suite

## make test-fast: unit tests only (no demo shop, no real load, no notebooks).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not integration and not notebooks and not netns and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check loadkit tests bench
	$(VENV)/bin/ruff format --check loadkit tests bench
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format loadkit tests bench
	$(VENV)/bin/ruff check --fix loadkit tests bench

## make bench: measure speed side by side; writes .bench/latest.md (copy figures to BENCHMARKS.md).
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info

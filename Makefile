# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, writes sample extracts to data/landing and applies them to data/kbo.duckdb
#   make test   creates .venv and runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: setup demo test test-all lint format ui clean install-motherduck test-motherduck

$(BIN)/kbo: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $@

setup: $(BIN)/kbo

demo: setup
	$(BIN)/kbo sample --out data/landing
	$(BIN)/kbo import data/landing/*.zip
	$(BIN)/kbo status

test: setup
	$(BIN)/pytest

test-all: setup
	$(BIN)/pytest -m ""

# A second environment with the DuckDB client MotherDuck accepts (constraints/motherduck.txt): for a
# MotherDuck database; CI runs the MotherDuck and job tests on it too.
MD_VENV := .venv-motherduck
$(MD_VENV)/bin/kbo: pyproject.toml constraints/motherduck.txt
	$(PYTHON) -m venv $(MD_VENV)
	$(MD_VENV)/bin/pip install --quiet --disable-pip-version-check -e ".[test]" -c constraints/motherduck.txt
	touch $@

install-motherduck: $(MD_VENV)/bin/kbo

test-motherduck: install-motherduck
	$(MD_VENV)/bin/pytest -m motherduck
	$(MD_VENV)/bin/pytest kbo_pipeline_tests/jobs

# ruff (pinned in pyproject.toml) as linter and formatter; CI fails on either.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: setup
	$(BIN)/kbo ui

clean:
	rm -rf data

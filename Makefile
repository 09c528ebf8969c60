# Two commands: `make run` (serve on http://127.0.0.1:8000 with demo data) and `make test` (lint, types, tests on
# SQLite and PostgreSQL).
PYTHON ?= python3
TMPDIR ?= /tmp
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := app tenants selfservice verification billing partners exchange
export MNV_TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test lint typecheck test-sqlite test-postgres bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/mnvault init
	$(BIN)/mnvault demo
	$(BIN)/mnvault serve

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy $(PACKAGES)

test-sqlite: $(VENV)/.dev-installed
	MNV_TEST_DB=sqlite $(BIN)/pytest -q --basetemp=$(TMPDIR)/mnv-pytest-sqlite

test-postgres: $(VENV)/.dev-installed
	MNV_TEST_DB=postgres $(BIN)/pytest -q --basetemp=$(TMPDIR)/mnv-pytest-postgres

# The two databases' suites are independent (own temporary trees, own databases, free ports): on CI's 2 cores they
# run side by side, each one's output printed whole when it ends.
test: lint typecheck
	$(MAKE) -j2 --output-sync=target test-sqlite test-postgres

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.vault

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# The two commands of the README: `make dev` runs Tether, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install dev test lint bench bench-backends bench-oauth bench-fetch bench-webhooks bench-listing bench-keyring bench-soak bench-housekeeping bench-json clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

dev: install
	$(BIN)/tether dev $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python tests/bench/bench_foundation.py

bench-backends: install
	$(BIN)/python tests/bench/bench_backends.py

bench-oauth: install
	$(BIN)/python tests/bench/bench_oauth.py

bench-fetch: install
	$(BIN)/python tests/bench/bench_fetch.py

bench-webhooks: install
	$(BIN)/python tests/bench/bench_webhooks.py

bench-listing: install
	$(BIN)/python tests/bench/bench_listing.py

bench-keyring: install
	$(BIN)/python tests/bench/bench_keyring.py

bench-soak: install
	$(BIN)/python tests/bench/bench_soak.py

bench-housekeeping: install
	$(BIN)/python tests/bench/bench_housekeeping.py

bench-json: install
	$(BIN)/python tests/bench/bench_bounded_json.py

clean:
	rm -rf $(VENV) .tether .pytest_cache .mypy_cache .ruff_cache

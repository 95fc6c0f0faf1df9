# The two commands of the README: `make dev` runs Tether, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

BENCHES := backends oauth fetch webhooks listing keyring soak housekeeping json

.PHONY: install dev test lint bench $(addprefix bench-,$(BENCHES)) clean

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

# `make bench-<name>` runs tests/bench/bench_<name>.py, a script that prints its figures.
$(addprefix bench-,$(BENCHES)): bench-%: install
	$(BIN)/python tests/bench/bench_$*.py

clean:
	rm -rf $(VENV) .tether .pytest_cache .mypy_cache .ruff_cache

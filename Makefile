# The two commands of the README: `make dev` runs Tether, `make test` runs every check.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
LOCK := requirements.lock
# The deployable bundle (`tether package`); `make test` builds and smoke-tests its own copy.
BUNDLE ?= dist/tether-functions.zip
# checkov lives in its own environment: it needs bc-python-hcl2, which installs the same
# `hcl2` package as python-hcl2 (what tests/deploy reads the Terraform with).
CHECKOV_VENV := $(VENV)/checkov
CHECKOV := checkov==3.3.30

BENCHES := backends oauth fetch webhooks listing keyring soak housekeeping json issued_tokens actions sync connect

.PHONY: install dev test lint bench $(addprefix bench-,$(BENCHES)) clean lock package

# Runtime dependencies are installed at the versions of the lock file (what gets deployed);
# their wheels are kept in $(VENV)/wheels for the bundle's smoke test, which installs them
# into a fresh environment without an index. Beside Tether, as a distribution of its own, its
# local stand-ins (emulators/: the tests' emulators and the demo).
$(BIN)/.installed: pyproject.toml emulators/pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint $(LOCK) -e '.[test]' -e ./emulators
	$(BIN)/pip wheel --quiet --no-deps --requirement $(LOCK) --wheel-dir $(VENV)/wheels
	touch $@

# The independent OpenID provider the tests run on loopback (node-oidc-provider), pinned by
# its package-lock.json.
OIDC_PROVIDER := emulators/oidc_provider
$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package-lock.json
	npm ci --prefix $(OIDC_PROVIDER) --no-audit --no-fund --loglevel=error

# Two other open provider registries (grant, Nango's providers.yaml), pinned by their
# package-lock.json: test data the catalog's endpoints are compared with
# (tests/unit/test_catalog_registries.py), read in node_modules and never shipped.
REGISTRIES := tests/registries
$(REGISTRIES)/node_modules/.package-lock.json: $(REGISTRIES)/package-lock.json
	npm ci --prefix $(REGISTRIES) --ignore-scripts --no-audit --no-fund --loglevel=error

# Vendors' own SDKs (postmark, recurly, xendit-node, ...), pinned likewise: test data for the
# catalog facts the registries do not hold (tests/unit/test_catalog_vendor_sdks.py).
VENDOR_SDKS := tests/vendor_sdks
$(VENDOR_SDKS)/node_modules/.package-lock.json: $(VENDOR_SDKS)/package-lock.json
	npm ci --prefix $(VENDOR_SDKS) --ignore-scripts --no-audit --no-fund --loglevel=error

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet '$(CHECKOV)'

install: $(BIN)/.installed $(CHECKOV_VENV)/bin/checkov $(OIDC_PROVIDER)/node_modules/.package-lock.json \
	$(REGISTRIES)/node_modules/.package-lock.json $(VENDOR_SDKS)/node_modules/.package-lock.json

dev: install
	$(BIN)/tether dev $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	terraform fmt -check -recursive infra
	$(CHECKOV_VENV)/bin/checkov --directory infra --framework terraform --quiet --compact \
		--skip-download

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python tests/bench/bench_foundation.py

# `make bench-<name>` runs tests/bench/bench_<name>.py, a script that prints its figures.
$(addprefix bench-,$(BENCHES)): bench-%: install
	$(BIN)/python tests/bench/bench_$*.py

# Re-pin the runtime dependencies of pyproject.toml (needs the package index).
lock: install
	$(BIN)/pip-compile --quiet --strip-extras --extra aws --no-emit-index-url --no-emit-find-links \
		--output-file $(LOCK) pyproject.toml

package: install
	$(BIN)/tether package --output $(BUNDLE)

clean:
	rm -rf $(VENV) .tether .pytest_cache .mypy_cache .ruff_cache dist $(OIDC_PROVIDER)/node_modules \
		$(REGISTRIES)/node_modules $(VENDOR_SDKS)/node_modules

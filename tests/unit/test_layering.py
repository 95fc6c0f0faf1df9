"""The layering is checked, not hoped for: import-linter runs the contracts in pyproject.toml
(domain <- ports <- adapters and capabilities <- api <- composition root <- command line; no
capability imports an adapter, the api or the emulators)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=os.fspath(ROOT / "pyproject.toml"), no_cache=True) == 0

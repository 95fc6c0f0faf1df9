"""The ``data_dir`` fixture of the tests that run ``tether`` commands on the embedded stack."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data folder of a ``tether`` command run in dev mode (not created yet)."""
    folder = tmp_path / "data"
    # The command sets these for itself; monkeypatch puts them back after the test.
    monkeypatch.setenv("TETHER_DATA_DIR", str(folder))
    monkeypatch.setenv("TETHER_MODE", "dev")
    monkeypatch.setenv("TETHER_AUTH", "dev")
    return folder

"""The layering is checked, not hoped for: import-linter runs the contracts in pyproject.toml
(domain <- ports <- adapters and capabilities <- api <- composition root <- command line; no
capability imports an adapter, the api or the emulators). In a process of its own: the tool
configures logging for itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    linted = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command;"
            " sys.exit(lint_imports_command(['--no-cache']))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "0 broken" in linted.stdout

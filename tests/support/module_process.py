"""``python -m <module>`` as a child process for the tests of a command line: its standard
output piped as text, and the process killed after the test if it still runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def module_process(module: str, *args: str, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``python -m module args`` running for the block (``popen``: more Popen arguments)."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True, **popen
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

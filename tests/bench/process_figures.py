"""Figures of a server process that a busy machine disturbs less than wall time does.

Wall time on a shared machine moves with everyone else's load; the CPU a server process (and
its forked workers) spent does much less, and the modules a function loads do not move at
all. The benchmarks print these beside their wall-time ratios, never instead of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_MODULES_SCRIPT = """
import io, sys
from functions_framework import create_app
app = create_app(sys.argv[1], sys.argv[2])
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}
if len(sys.argv) > 3:
    environ["HTTP_AUTHORIZATION"] = "Bearer " + sys.argv[3]
status = []
b"".join(app(environ, lambda line, headers, exc_info=None: status.append(line)))
assert status[0].startswith("200"), status
print(len(sys.modules))
"""


def _own_seconds(pid: int) -> float:
    """CPU seconds of one process: the nanoseconds its live threads ran (``schedstat``),
    else utime + stime in clock ticks (10 ms steps); 0 if it is gone."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ran = 0
    for tid in threads:
        with suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
            ran += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    if ran:
        return ran / 1e9
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [int(child) for child in text.split()]


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds spent so far by ``pid`` and its live descendants (the gunicorn arbiter and
    its worker); ``None`` where ``/proc`` is not there to tell."""
    if not Path("/proc/self/stat").exists():
        return None
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += _own_seconds(current)
        todo += _children(current)
    return total


def modules_at_first_answer(
    target: str, source: Path, env: dict[str, str], token: str | None = None
) -> int:
    """How many modules ``target`` has loaded once it answered its first ``GET /`` (a bare
    WSGI call, no test client, in a fresh interpreter): a count that no load moves."""
    command = [sys.executable, "-c", _MODULES_SCRIPT, target, str(source)]
    if token is not None:
        command.append(token)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{target} did not answer:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])

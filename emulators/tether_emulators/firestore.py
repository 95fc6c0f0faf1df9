"""A launcher for the official Firestore emulator (``gcloud emulators firestore start``).

Firestore has a real emulator, so nothing is reimplemented here: this starts it on a free
port in a process group of its own (gcloud starts a JVM underneath; stopping the group stops
both), waits until it answers, and clears its documents between tests::

    with FirestoreEmulator() as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.address
        ...
        emulator.clear("my-project")

From a shell, ``python -m tether_emulators.firestore --port 8681`` runs it in the
foreground and prints the ``export FIRESTORE_EMULATOR_HOST=...`` line to use.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from types import TracebackType

from tether_emulators.foreground import stop_signals

__all__ = [
    "EMULATOR_HOST_VAR",
    "EmulatorError",
    "FirestoreEmulator",
    "clear_emulator",
    "free_port",
    "main",
]

EMULATOR_HOST_VAR = "FIRESTORE_EMULATOR_HOST"
_TAIL_LINES = 40


class EmulatorError(RuntimeError):
    """The emulator could not be started (or cleared)."""


def free_port(host: str) -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _check_free(host: str, port: int) -> None:
    """Raise ``OSError`` if something listens on ``host:port`` (connections of a previous
    run lingering in TIME_WAIT do not count: the emulator binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


class FirestoreEmulator:
    """One emulator process. ``port=0`` picks a free port on :meth:`start`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._reader: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def address(self) -> str:
        """``host:port``, the value of ``FIRESTORE_EMULATOR_HOST``."""
        if self._process is None:
            raise EmulatorError("the Firestore emulator is not started")
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> FirestoreEmulator:
        """Start the emulator and wait until it answers; :class:`EmulatorError` (with the tail
        of its output) if gcloud is missing or the emulator does not come up in time."""
        if self._process is not None:
            return self
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise EmulatorError(
                "gcloud is not on PATH: install the Google Cloud SDK and its "
                "cloud-firestore-emulator component to run the Firestore emulator"
            )
        try:
            if self.port == 0:
                self.port = free_port(self.host)
            else:
                # something else answering there would pass for this emulator
                _check_free(self.host, self.port)
        except OSError as exc:
            raise EmulatorError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        command = [
            gcloud,
            "emulators",
            "firestore",
            "start",
            f"--host-port={self.host}:{self.port}",
        ]
        self._output.clear()
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments, gcloud from PATH
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends gcloud and the JVM
        )
        self._reader = threading.Thread(
            target=self._drain, name="firestore-emulator-output", daemon=True
        )
        self._reader.start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _drain(self) -> None:
        # Read the output all along: a full pipe would block the emulator.
        process = self._process
        if process is None or process.stdout is None:
            return
        for raw in process.stdout:
            self._output.append(raw.decode("utf-8", "replace").rstrip())

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self._process
            if process is None:
                raise EmulatorError("the Firestore emulator was stopped while starting")
            code = process.poll()
            if code is not None:
                raise EmulatorError(
                    f"the Firestore emulator exited with status {code} while starting"
                    + self._tail()
                )
            if self._answers():
                return
            if time.monotonic() >= deadline:
                raise EmulatorError(
                    f"the Firestore emulator did not answer on {self.host}:{self.port} "
                    f"within {timeout:g} s" + self._tail()
                )
            time.sleep(0.2)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/", timeout=2) as response:
                return bool(response.read().strip() == b"Ok")
        except (OSError, urllib.error.URLError):
            return False

    def _tail(self) -> str:
        # The reader thread may still be catching up with the last lines.
        time.sleep(0.1)
        lines = list(self._output)
        if not lines:
            return " (no output)"
        return "; its last output:\n" + "\n".join(lines)

    def output(self) -> list[str]:
        """The last lines the emulator printed."""
        return list(self._output)

    def stop(self, grace: float = 10) -> None:
        """Terminate the whole process group; kill it if it is still there after ``grace``
        seconds. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        deadline = time.monotonic() + grace
        try:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
            # gcloud exits first; the JVM it started got the SIGTERM too: give it the rest of
            # the grace period, then kill whatever is left of the group
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout=grace)
        finally:
            if self._reader is not None:
                self._reader.join(timeout=grace)
                self._reader = None
            if process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- data -------------------------------------------------------------------------------
    def clear(self, project: str, database: str = "(default)") -> None:
        """Delete every document of ``project``'s database (the emulator's own endpoint)."""
        clear_emulator(self.address, project, database)


def clear_emulator(address: str, project: str, database: str = "(default)") -> None:
    """Delete every document of ``project``'s database in the emulator at ``address``
    (``host:port``), started by this module or not."""
    url = (
        f"http://{address}/emulator/v1/projects/{urllib.parse.quote(project, safe='')}"
        f"/databases/{urllib.parse.quote(database, safe='()')}/documents"
    )
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - same URL
            response.read()
    except (OSError, urllib.error.URLError) as exc:
        raise EmulatorError(f"could not clear the Firestore emulator at {address}: {exc}") from exc


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tether_emulators.firestore",
        description="Run the official Firestore emulator in the foreground.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for it")
    args = parser.parse_args(argv)

    emulator = FirestoreEmulator(args.host, args.port)
    with stop_signals() as stopping:
        try:
            try:
                emulator.start(timeout=args.timeout)
            except EmulatorError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"export {EMULATOR_HOST_VAR}={emulator.address}", flush=True)
            while not stopping.wait(0.5):
                if not emulator.running:
                    lines = "\n".join(emulator.output())
                    print(
                        f"error: the Firestore emulator exited; its last output:\n{lines}",
                        file=sys.stderr,
                    )
                    return 1
            return 0
        finally:
            emulator.stop()


if __name__ == "__main__":
    raise SystemExit(main())

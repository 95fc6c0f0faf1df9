"""`tether dev` as a user runs it: a real process, real HTTP on loopback, data on disk.

Covers the foundation's promises end to end: both functions answer under one port, a
credential appears in no response, log line or file, connections survive a restart, and a new
primary key plus `tether keys rotate` re-encrypts everything while every connection still works.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk_live_51E2eSecretNeverLeaks000000000000"
SECRET_2 = "sk_live_51E2eSecondSecretNeverLeaks11111"


def _tether() -> list[str]:
    script = Path(sys.executable).parent / "tether"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tether.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}


class _PortTaken(AssertionError):
    """``tether dev`` could not listen: another process holds the port."""


@dataclass
class DevServer:
    data_dir: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[str] | None = None
    output: str = ""
    extra_args: tuple[str, ...] = ("--demo-provider-port", "0")
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start ``tether dev`` and wait until it answers. A port picked free that another
        process took meanwhile (suites run side by side) is picked again, twice at most."""
        for attempt in range(3):
            try:
                self._start_once()
                return
            except _PortTaken:
                if attempt == 2:
                    raise
                self.port = _free_port()

    def _start_once(self) -> None:
        self.process = subprocess.Popen(
            [
                *_tether(),
                "dev",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            cwd=ROOT,
            env={**_env(), **self.extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.communicate()[0]
                self.process = None
                if "Address already in use" in out:
                    raise _PortTaken(out)
                raise AssertionError(f"tether dev exited:\n{out}")
            try:
                if httpx.get(f"{self.url}/catalog/", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("tether dev did not answer within 30 s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out
        self.process = None

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [*_tether(), *args, "--data-dir", str(self.data_dir)],
            cwd=ROOT,
            env={**_env(), **self.extra_env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        self.output += result.stderr
        return result.stdout.strip()


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


def test_dev_server_end_to_end(dev: DevServer) -> None:
    client = httpx.Client(base_url=dev.url, timeout=10)
    assert "keyring" in json.dumps(sorted(p.name for p in dev.data_dir.iterdir()))

    catalog = client.get("/catalog/").json()["providers"]
    assert len(catalog) >= 40
    assert client.get("/catalog/stripe").json()["auth_mode"] == "api_key"
    spec = client.get("/openapi.json").json()
    assert "/connections/{id}" in spec["paths"]

    token = dev.cli("token", "--tenant", "acme")
    other = dev.cli("token", "--tenant", "globex")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/connections/").status_code == 401

    created = client.post(
        "/connections/",
        json={"provider": "stripe", "display_name": "Live", "credentials": {"api_key": SECRET}},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    assert SECRET not in created.text
    cid = created.json()["id"]
    second = client.post(
        "/connections",
        json={"provider": "stripe", "credentials": {"api_key": SECRET_2}},
        headers=auth,
    )
    assert second.status_code == 201, second.text

    listed = client.get("/connections/", headers=auth)
    assert {c["id"] for c in listed.json()["connections"]} == {cid, second.json()["id"]}
    assert (
        client.get(f"/connections/{cid}", headers={"Authorization": f"Bearer {other}"}).status_code
        == 404
    )
    assert SECRET not in listed.text

    # Restart: connections are kept.
    dev.stop()
    dev.start()
    kept = client.get(f"/connections/{cid}", headers=auth)
    assert kept.status_code == 200 and kept.json()["display_name"] == "Live"

    # New primary key, rotate, and every connection still decrypts.
    dev.stop()
    added = dev.cli("keys", "generate", "--add")
    assert "as primary" in added
    report = json.loads(dev.cli("keys", "rotate"))
    assert report["kinds"]["credential_payloads"]["resealed"] == 2 and report["failed"] == 0
    again = json.loads(dev.cli("keys", "rotate"))["kinds"]["credential_payloads"]
    assert again["resealed"] == 0 and again["already_current"] == 2
    keyring = json.loads((dev.data_dir / "keyring.json").read_text())
    assert report["primary_key_id"] == keyring["primary"] and len(keyring["keys"]) == 2
    dev.start()
    # PATCH merges credentials, which needs the stored ones decrypted under the new key.
    patched = client.patch(
        f"/connections/{cid}", json={"credentials": {"api_key": SECRET_2}}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    trail = client.get(f"/connections/{cid}/audit", headers=auth).json()["audit"]
    assert [e["action"] for e in trail][:3] == [
        "connection.updated",
        "credentials.read",
        "credentials.rotated",
    ]

    deleted = client.delete(f"/connections/{cid}", headers=auth)
    assert deleted.status_code == 204
    client.close()
    dev.stop()

    # The secrets appear in no log line and in no file of the data folder.
    assert '"severity"' in dev.output  # the server did log, as JSON
    for secret in (SECRET, SECRET_2):
        assert secret not in dev.output
        for path in dev.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path


def test_readme_task_call_works_as_typed(dev: DevServer) -> None:
    # `curl -X POST localhost:8080/tasks/<kind> -H "Authorization: Bearer $(tether token --tasks)"`
    task_token = dev.cli("token", "--tasks")
    answer = httpx.post(
        f"{dev.url}/tasks/sweep", headers={"Authorization": f"Bearer {task_token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True}


def _housekeeping_runs(data_dir: Path, kind: str = "housekeeping") -> list[tuple[str, str]]:
    with closing(sqlite3.connect(data_dir / "tasks.sqlite3", timeout=10)) as db:
        return db.execute(
            "SELECT name, status FROM tasks WHERE kind = ? ORDER BY name", (kind,)
        ).fetchall()


def test_dev_runs_housekeeping_by_itself_once_per_period(dev: DevServer) -> None:
    """`tether dev` schedules its own housekeeping (hourly by default), named per period so a
    restart within the hour does not add another run."""
    deadline = time.monotonic() + 15
    while not any(status == "done" for _, status in _housekeeping_runs(dev.data_dir)):
        assert time.monotonic() < deadline, _housekeeping_runs(dev.data_dir)
        time.sleep(0.1)
    (name, _), *more = _housekeeping_runs(dev.data_dir)
    assert name.startswith("housekeeping-") and name.endswith("0000Z") and not more

    dev.stop()
    dev.start()
    time.sleep(1)  # the worker enqueues on its first turn
    runs = _housekeeping_runs(dev.data_dir)
    # the same name again (or, across an hour boundary, the next hour's)
    assert len(runs) <= 2 and runs[0][0] == name, runs


def test_dev_runs_the_token_sweep_by_itself(dev: DevServer) -> None:
    """The safety net of proactive refresh runs without Cloud Scheduler too."""
    deadline = time.monotonic() + 15
    while not any(status == "done" for _, status in _housekeeping_runs(dev.data_dir, "sweep")):
        assert time.monotonic() < deadline, _housekeeping_runs(dev.data_dir, "sweep")
        time.sleep(0.1)
    (name, _), *more = _housekeeping_runs(dev.data_dir, "sweep")
    assert name.startswith("sweep-") and not more

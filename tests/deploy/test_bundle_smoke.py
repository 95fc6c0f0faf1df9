"""The deployable bundle works on its own: unzipped, installed into a fresh virtual
environment from the locked wheels only, each function served by ``functions-framework
--target <function>`` in cloud mode answers one real request on loopback.

What this proves that the other function tests do not: ``requirements.txt`` holds everything
the functions import (nothing leaks in from the test environment), the vendored ``tether/``
carries its data files (the catalog), and ``main.py`` starts in cloud mode with the settings
the Terraform gives it (the keyring from a Secret Manager secret version, on the emulator).
The wheels are the ones ``make install`` builds from
``requirements.lock`` into the virtual environment's ``wheels/`` folder; installing with
``--no-index`` means nothing is resolved or downloaded here.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEYRING
from tests.support.deployment import entry_points, keyring_secret_version
from tests.support.jwks_server import JwksServer
from tether.adapters.secret_manager import client as secret_manager_adapter
from tether.bundle import LOCK_FILE, build_bundle
from tether.catalog.sources import packaged_sources

ROOT = Path(__file__).resolve().parents[2]
WHEELS = Path(sys.prefix) / "wheels"
ISSUER = "https://issuer.example"
AUDIENCE = "tether-smoke"
APP = "https://app.example/connected"

# One request per function: (method, path, json body or None, authenticated?, status).
# Authenticated calls carry a real RS256 token checked against a loopback JWKS.
REQUESTS: dict[str, tuple[str, str, object, bool, int]] = {
    "catalog": ("GET", "/", None, False, 200),
    "connections": ("GET", "/", None, True, 200),
    "settings": ("GET", "/", None, True, 200),
    "oauth_start": ("POST", "/", {"provider": "no_such_provider", "return_to": APP}, True, 404),
    "oauth_callback": ("GET", "/?code=c&state=unknown", None, False, 400),
    "test_connection": ("POST", "/conn_missing", {}, True, 404),
    "fetch": ("GET", "/conn_missing/endpoints", None, True, 404),
    "actions": ("GET", "/conn_missing", None, True, 404),
    "proxy": ("GET", "/conn_missing/v1/things", None, True, 404),
    # Without "Accept: application/json" the MCP transport answers 406, after the token check.
    "mcp": ("POST", "/", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, True, 406),
    "syncs": ("GET", "/conn_missing", None, True, 404),
    "records": ("GET", "/conn_missing/Invoice", None, True, 404),
    "webhooks": ("POST", "/no-such-token", {}, False, 404),
    # (its page is HTML; a file it does not serve answers the JSON error every function does)
    "connect": ("GET", "/no-such-file.js", None, False, 404),
    "connect_sessions": ("DELETE", "/csess_missing000", None, True, 404),
    # Deployed, `tasks` takes Google-signed OIDC tokens only.
    "tasks": ("POST", "/sweep", None, False, 401),
}


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every socket stays bound until all are chosen, so the
    kernel cannot hand the same port out twice (two functions on one port: the loser exits and
    the winner answers the other's request)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bundle(ROOT, tmp_path_factory.mktemp("dist") / "tether-functions.zip").path


@pytest.fixture(scope="module")
def installed(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The unzipped bundle and a fresh venv holding exactly its requirements."""
    assert WHEELS.is_dir(), "no locked wheels: run `make install`"
    source = tmp_path_factory.mktemp("source")
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(source)
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(WHEELS),
            "--requirement",
            str(source / "requirements.txt"),
        ],
        check=True,
        env={**os.environ, "PIP_CONSTRAINT": ""},
    )
    return source, venv


def test_the_bundle_is_reproducible_and_holds_no_test_code(bundle: Path, tmp_path: Path) -> None:
    again = build_bundle(ROOT, tmp_path / "again.zip")
    assert again.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        requirements = zf.read("requirements.txt").decode()
    assert {"main.py", "requirements.txt", "tether/catalog/providers.yaml"} <= set(names)
    catalog_files = {f"tether/catalog/{source.name}" for source in packaged_sources()}
    assert len(catalog_files) > 1 and catalog_files <= set(names)
    top = {name.split("/", 1)[0] for name in names}
    assert top == {"main.py", "requirements.txt", "tether"}
    pinned = {line.split("==")[0] for line in requirements.splitlines() if "==" in line}
    assert {"functions-framework", "google-cloud-firestore", "cryptography"} <= pinned
    assert not pinned & {"pytest", "ruff", "mypy", "stripe", "slack-sdk", "twilio", "moto"}
    assert (ROOT / LOCK_FILE).is_file()


def test_the_smoke_requests_cover_every_function() -> None:
    assert sorted(REQUESTS) == entry_points()


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with JwksServer().serving() as server:
        yield server


@pytest.fixture
def keyring_secret(secret_manager_emulator: str) -> str:
    """The keyring as the Terraform gives it: a Secret Manager secret version (here on the
    emulator), which each function reads at start."""
    client = secret_manager_adapter.secret_manager_client(secret_manager_emulator)
    project = f"projects/smoke-{uuid.uuid4().hex[:12]}"
    try:
        version = keyring_secret_version(client, project, TEST_KEYRING)
    finally:
        client.transport.close()
    return version


def test_each_function_serves_from_the_installed_bundle(
    installed: tuple[Path, Path],
    jwks: JwksServer,
    keyring_secret: str,
    secret_manager_emulator: str,
    tmp_path: Path,
) -> None:
    source, venv = installed
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TETHER_KEYRING_SECRET": keyring_secret,
        "SECRET_MANAGER_EMULATOR_HOST": secret_manager_emulator,
        "TETHER_AUTH": "jwks",
        "TETHER_JWKS_URL": jwks.url,
        "TETHER_JWT_ISSUER": ISSUER,
        "TETHER_JWT_AUDIENCE": AUDIENCE,
        "TETHER_DATA_DIR": str(tmp_path / "data"),
        "TETHER_TASK_WORKER": "false",
        "TETHER_PUBLIC_URL": "https://functions.example",
        "TETHER_ALLOWED_RETURN_URLS": APP,
        "TETHER_TASKS_URL": "https://functions.example/tasks",
        "TETHER_TASKS_SERVICE_ACCOUNT": "tether-tasks@project.iam.gserviceaccount.com",
    }
    ports = dict(zip(REQUESTS, _free_ports(len(REQUESTS)), strict=True))
    logs = ExitStack()

    def start(name: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(venv / "bin" / "functions-framework"),
                "--target",
                name,
                "--source",
                str(source / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(ports[name]),
            ],
            cwd=source,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=logs.enter_context((tmp_path / f"{name}.log").open("wb")),
        )

    processes = {name: start(name) for name in ports}
    token = jwks.sign({"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "tenant_id": "acme"})
    answers: dict[str, tuple[int, object]] = {}
    try:
        with httpx.Client(timeout=10) as client:
            for name, (method, path, body, authed, _) in REQUESTS.items():
                headers = {"Authorization": f"Bearer {token}"} if authed else {}
                for _attempt in range(3):
                    url = f"http://127.0.0.1:{ports[name]}{path}"
                    log = tmp_path / f"{name}.log"
                    try:
                        answers[name] = _first_answer(
                            client, processes[name], method, url, body, headers, log
                        )
                        break
                    except AssertionError:
                        # Another process on this machine took the free port first: again
                        # on a new one (the ports are picked before the servers bind them).
                        if "Address already in use" not in log.read_text():
                            raise
                        ports[name] = _free_ports(1)[0]
                        processes[name] = start(name)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=10)
        logs.close()
    for name, (_, _, _, _, status) in REQUESTS.items():
        got, payload = answers[name]
        assert got == status, (name, payload)
    catalog = answers["catalog"][1]
    assert isinstance(catalog, dict)
    assert len(catalog["providers"]) >= 40, "the bundle's catalog lost providers"


def _first_answer(
    client: httpx.Client,
    process: subprocess.Popen[bytes],
    method: str,
    url: str,
    body: object,
    headers: dict[str, str],
    log: Path,
) -> tuple[int, object]:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = client.request(method, url, json=body, headers=headers)
        except httpx.TransportError:
            if process.poll() is not None:
                raise AssertionError(f"{url}: exited\n{log.read_text()[-3000:]}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        if process.poll() is not None:
            # Another process holds the port: this function could not bind and exited.
            tail = log.read_text()[-3000:]
            raise AssertionError(f"{url}: exited, so another process answered\n{tail}")
        return response.status_code, json.loads(response.text or "null")


def test_tether_package_writes_the_bundle(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tether.cli import main

    output = tmp_path / "out" / "bundle.zip"
    assert main(["package", "--root", str(ROOT), "--output", str(output)]) == 0
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    assert digest in capsys.readouterr().out
    assert output.read_bytes() == bundle.read_bytes()

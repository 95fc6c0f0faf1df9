"""An independent authorization server on loopback: node-oidc-provider (OpenID Certified),
run by ``emulators/oidc_provider/server.mjs`` (its packages pinned in that folder's
package-lock.json and installed by ``make install``).

:func:`oidc_server` starts one with the given clients, token lifetimes and JWT bearer
issuers (assertion ``iss`` → public key PEM), and yields its issuer; the process is killed
after the block. A machine without Node.js or without the installed packages fails the test
that asks for it, with the command that fixes it.
"""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SERVER_DIR = Path(__file__).resolve().parents[2] / "emulators" / "oidc_provider"
_START_SECONDS = 30.0


@dataclass(frozen=True)
class OidcServer:
    issuer: str

    @property
    def port(self) -> int:
        return int(self.issuer.rsplit(":", 1)[1])

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.issuer}/token/revocation"

    @property
    def api_url(self) -> str:
        return f"{self.issuer}/api/me"

    def introspect(self, token: str, client_id: str, client_secret: str) -> dict[str, Any]:
        """RFC 7662 introspection of ``token`` by a confidential client: is it still live?"""
        answer = httpx.post(
            f"{self.issuer}/token/introspection",
            data={"token": token},
            auth=(client_id, client_secret),
            timeout=10,
        )
        answer.raise_for_status()
        return dict(answer.json())


@contextmanager
def oidc_server(
    *,
    clients: Sequence[Mapping[str, Any]],
    ttl: Mapping[str, int] | None = None,
    jwt_bearer: Mapping[str, str] | None = None,
) -> Iterator[OidcServer]:
    node = shutil.which("node")
    if node is None or not (SERVER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            "the OpenID provider needs Node.js and its packages: run `make install` "
            "(npm ci in emulators/oidc_provider)"
        )
    settings = {"clients": list(clients), "ttl": dict(ttl or {}), "jwt_bearer": jwt_bearer or {}}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as config:
        json.dump(settings, config)
        config.flush()
        process = subprocess.Popen(
            [node, str(SERVER_DIR / "server.mjs"), "--config", config.name, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=SERVER_DIR,
        )
        try:
            yield OidcServer(issuer=_first_line(process)["issuer"])
        finally:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()


def _first_line(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=_START_SECONDS):
            raise RuntimeError("the OpenID provider did not start in time")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the OpenID provider exited ({process.wait()})")
    return dict(json.loads(line))

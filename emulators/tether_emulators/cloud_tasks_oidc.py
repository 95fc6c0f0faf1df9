"""The OIDC half of the Cloud Tasks emulator: ID tokens for ``oidc_token`` tasks and their JWKS.

Cloud Tasks attaches ``Authorization: Bearer <ID token>`` to an HTTP task that names a service
account; the token is a Google-signed RS256 JWT whose claims say who the caller is (``email``,
``sub``) and for whom it is meant (``aud``). The emulator cannot sign as Google, so it signs with
an RSA key it generates at start and publishes the public half as a JWKS, in the same shape and
at the same path as Google's (``/oauth2/v3/certs``). The claims copy Google's, issuer included
(``https://accounts.google.com``), so a verifier only needs a different JWKS URL.

:class:`OidcSigner` mints the tokens; :class:`JwksServer` serves the key set (and a minimal
``/.well-known/openid-configuration``) from a stdlib HTTP server thread.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = [
    "GOOGLE_ISSUER",
    "JWKS_PATH",
    "OPENID_CONFIGURATION_PATH",
    "JwksServer",
    "OidcSigner",
    "connectable_host",
    "subject_for",
]

GOOGLE_ISSUER = "https://accounts.google.com"
JWKS_PATH = "/oauth2/v3/certs"
OPENID_CONFIGURATION_PATH = "/.well-known/openid-configuration"
TOKEN_LIFETIME_SECONDS = 3600


def connectable_host(host: str) -> str:
    """``host`` as a client can use it in a URL: a wildcard bind address becomes loopback, an
    IPv6 address gets its brackets."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host or "127.0.0.1"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def subject_for(email: str) -> str:
    """A stable, numeric-looking unique id for a service account (Google's are 21 digits)."""
    digest = int.from_bytes(hashlib.sha256(email.strip().lower().encode()).digest()[:10], "big")
    return "1" + str(digest % 10**20).zfill(20)


class OidcSigner:
    """An RSA key made at construction, the ID tokens it signs and the JWKS that verifies them."""

    def __init__(self, *, issuer: str = GOOGLE_ISSUER, key_size: int = 2048) -> None:
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Google's key ids are 40 hex characters; a digest of the public key has the same shape.
        self.kid = hashlib.sha1(public_der, usedforsecurity=False).hexdigest()

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def sign(self, *, service_account_email: str, audience: str, now: float | None = None) -> str:
        """An ID token for ``service_account_email``, as Cloud Tasks sends it to ``audience``."""
        issued = int(time.time() if now is None else now)
        subject = subject_for(service_account_email)
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "azp": subject,
            "sub": subject,
            "email": service_account_email,
            "email_verified": True,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


class JwksServer:
    """Serves ``signer``'s key set at ``http://host:port/oauth2/v3/certs`` from a thread."""

    def __init__(self, signer: OidcSigner, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._signer = signer
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the JWKS server is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{connectable_host(self._host)}:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.base_url + JWKS_PATH

    def start(self) -> int:
        if self._server is not None:
            raise RuntimeError("the JWKS server is already started")
        server = ThreadingHTTPServer((self._host, self._port), self._handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="cloud-tasks-jwks",
            daemon=True,
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        signer = self._signer
        jwks_server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "CloudTasksEmulatorJwks"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == JWKS_PATH:
                    self._json(signer.jwks())
                elif path == OPENID_CONFIGURATION_PATH:
                    self._json(
                        {
                            "issuer": signer.issuer,
                            "jwks_uri": jwks_server.jwks_url,
                            "id_token_signing_alg_values_supported": ["RS256"],
                            "subject_types_supported": ["public"],
                            "claims_supported": [
                                "aud",
                                "azp",
                                "email",
                                "email_verified",
                                "exp",
                                "iat",
                                "iss",
                                "sub",
                            ],
                        }
                    )
                else:
                    self.send_error(HTTPStatus.NOT_FOUND)

            def _json(self, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "public, max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: a verifier polling the key set is not news."""

        return Handler

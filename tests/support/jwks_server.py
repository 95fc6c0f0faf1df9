"""An RSA key and a JWKS document served over real HTTP on loopback, for verifiers that fetch
their keys (PyJWT's PyJWKClient) the way they do in production."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


class JwksServer:
    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        self.jwks = {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}
        self.url = ""

    def sign(self, claims: dict[str, Any], *, ttl: int = 600, key: Any = None) -> str:
        now = int(time.time())
        body = {"iat": now, "exp": now + ttl, **claims}
        return jwt.encode(
            body, key or self.private_key, algorithm="RS256", headers={"kid": self.kid}
        )

    @contextmanager
    def serving(self) -> Iterator[JwksServer]:
        document = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/certs"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

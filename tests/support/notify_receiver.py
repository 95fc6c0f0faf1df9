"""A tenant's notify endpoint on loopback: records every delivery and verifies it with
``standardwebhooks.Webhook(secret).verify`` under the keys it holds, as a tenant's endpoint
would. Plain HTTP: tests allowlist it in the egress guard."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["Received", "Receiver", "receiver", "serve_receiver"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]


@dataclass
class Receiver:
    """A tenant endpoint. ``keys`` (name -> secret) are what it verifies with; it answers 401
    when it has keys and none verifies, else 200, unless ``fail_next`` says to answer
    something else first."""

    url: str
    keys: dict[str, str] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    redirect_to: str | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, body: bytes, headers: dict[str, str]) -> list[str]:
        ok = []
        for name, secret in self.keys.items():
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            ok.append(name)
        return ok

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        verified = self.verify(body, headers)
        with self.lock:
            self.received.append(Received(path, headers, body, verified))
            if self.redirect_to is not None:
                return 302, self.redirect_to
            if self.fail_next:
                return self.fail_next.pop(0), None
        return (200 if verified or not self.keys else 401), None


def serve_receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, until the generator is closed."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, location = state[0].answer(self.path, headers, body)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:  # where a followed 302 would land
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    state.append(Receiver(url=f"http://127.0.0.1:{port}/hooks/tether"))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()

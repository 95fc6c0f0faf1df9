"""The `proxy` function against a provider on loopback whose answers each test scripts: what
comes back (in a content coding, compressed many times over, echoing the credential the way
JSON encoders write it) reaches the caller bounded and with the connection's credential
masked, and the caller cannot choose how the provider encodes its answer."""

from __future__ import annotations

import gzip
import json
import re
import threading
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.bootstrap import Container, reset_container
from tether.config import Settings

ACME = bearer("acme")
# With the characters JSON encoders escape ("/" for PHP, "+" for .NET).
KEY = "pk/live+Key=0123456789abcdef"

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Provider:
    """Answers each path with what the test scripted (200 and an empty JSON object
    otherwise) and records the headers of every request."""

    answers: dict[str, Answer] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self) -> type[QuietHandler]:
        provider = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                with provider.lock:
                    provider.seen.append({k.lower(): v for k, v in self.headers.items()})
                    answer = provider.answers.get(self.path.split("?", 1)[0])
                status, headers, content = answer or (200, {}, b"{}")
                wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if wanted and status == 200:  # one range, as static servers and CDNs answer
                    first, last = int(wanted[1]), int(wanted[2])
                    status, content = 206, content[first : last + 1]
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        return Handler


@dataclass
class World:
    provider: Provider
    proxy: FlaskClient
    connection: str


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    provider = Provider()
    server = LoopbackHTTP(provider.handler(), None)
    configured = settings.model_copy(
        update={
            "egress_allowlist": f"127.0.0.1:{server.port}",
            "rate_limit_per_minute": 6000,
            "rate_limit_burst": 50,
        }
    )
    container = Container(configured)
    reset_container(container)
    created = (
        create_app("connections", SOURCE)
        .test_client()
        .post(
            "/",
            json={
                "provider": "rest_api",
                "config": {
                    "base_url": f"http://127.0.0.1:{server.port}/v1",
                    "auth_method": "bearer",
                    "test_path": "/me",
                },
                "credentials": {"token": KEY},
            },
            headers=ACME,
        )
    )
    assert created.status_code == 201, created.get_json()
    try:
        yield World(provider, create_app("proxy", SOURCE).test_client(), created.get_json()["id"])
    finally:
        reset_container(None)
        container.close()
        server.close()


def _gunzipped(content: bytes) -> bytes:
    try:
        return gzip.decompress(content)
    except (OSError, EOFError):
        return content


def test_an_answer_in_a_coding_the_proxy_cannot_read_is_refused(world: World) -> None:
    """The credential could hide in a coding the outbound client does not decode (here
    ``x-gzip``, which it leaves as is): such an answer is refused, not passed on unmasked."""
    echoed = json.dumps({"error": f"invalid token {KEY}"}).encode()
    world.provider.answers["/v1/whoami"] = (
        401,
        {"Content-Encoding": "x-gzip"},
        gzip.compress(echoed),
    )
    answer = world.proxy.get(f"/{world.connection}/whoami", headers=ACME)
    assert KEY.encode() not in _gunzipped(answer.get_data())
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (502, "OUTBOUND_PROTOCOL")


def test_the_caller_cannot_choose_the_coding_of_the_answer(world: World) -> None:
    """The proxy answers decoded bodies; the caller's ``Accept-Encoding`` (``br``, which the
    outbound client cannot decode) does not reach the provider, the client's own does."""
    answer = world.proxy.get(
        f"/{world.connection}/me", headers={**ACME, "Accept-Encoding": "br;q=1, zstd"}
    )
    assert answer.status_code == 200
    assert world.provider.seen[-1]["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("layers", [1, 2])
def test_a_compressed_answer_is_bounded_while_it_is_decoded(world: World, layers: int) -> None:
    """A few hundred bytes that inflate to 256 MiB are refused at the size cap (10 MiB) with
    memory to match: decoding stops at the cap instead of inflating a whole read at once."""
    bomb = b"\0" * (256 * 1024 * 1024)
    for _ in range(layers):
        bomb = gzip.compress(bomb)
    coding = ", ".join(["gzip"] * layers)
    world.provider.answers["/v1/bomb"] = (200, {"Content-Encoding": coding}, bomb)
    tracemalloc.start()
    try:
        answer = world.proxy.get(f"/{world.connection}/bomb", headers=ACME)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (answer.status_code, answer.get_json()["error"]["code"]) == (502, "OUTBOUND_TOO_LARGE")
    assert peak < 48 * 1024 * 1024


@pytest.mark.parametrize(
    "written",
    [
        KEY.replace("/", "\\/"),  # PHP's json_encode
        KEY.replace("+", "\\u002B"),  # .NET's System.Text.Json
        KEY.replace("/", "\\u002f").replace("+", "\\u002b"),  # every escape JSON allows
    ],
)
def test_a_credential_echoed_in_escaped_json_is_masked(world: World, written: str) -> None:
    """A JSON encoder may escape characters of the echoed credential; the caller reading the
    JSON would get the credential all the same."""
    body = ('{"error": "invalid token ' + written + '"}').encode()
    world.provider.answers["/v1/whoami"] = (401, {}, body)
    answer = world.proxy.get(f"/{world.connection}/whoami", headers=ACME)
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "invalid token [REDACTED]"}


def test_headers_the_answers_connection_header_names_are_not_passed_on(world: World) -> None:
    """They are for the hop between Tether and the provider (RFC 9110 §7.6.1), as the
    request's are for the hop from the caller."""
    world.provider.answers["/v1/hop"] = (
        200,
        {"Connection": "X-Upstream-Node, keep-alive", "X-Upstream-Node": "10.1.2.3", "X-Kept": "1"},
        b"{}",
    )
    answer = world.proxy.get(f"/{world.connection}/hop", headers=ACME)
    assert answer.status_code == 200
    assert answer.headers.get("X-Kept") == "1"
    assert "X-Upstream-Node" not in answer.headers


def test_the_caller_cannot_take_the_answer_in_slices(world: World) -> None:
    """Masking works on a whole body: ranges that cut an echoed credential in two would
    each pass unmasked, and read together give the credential."""
    account = json.dumps({"id": "acct_1", "key": KEY}).encode()
    world.provider.answers["/v1/account"] = (200, {}, account)
    cut = account.index(KEY.encode()) + 5
    pieces = [
        world.proxy.get(f"/{world.connection}/account", headers={**ACME, "Range": wanted})
        for wanted in (f"bytes=0-{cut - 1}", f"bytes={cut}-{len(account) - 1}")
    ]
    assert KEY.encode() not in b"".join(piece.get_data() for piece in pieces)
    assert all("range" not in seen for seen in world.provider.seen)


def test_the_providers_cors_headers_do_not_open_the_answer_to_other_origins(
    world: World,
) -> None:
    """Which web origins may read Tether's answers is Tether's CORS policy (the configured
    frontend only), not the provider's."""
    world.provider.answers["/v1/open"] = (
        200,
        {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "*",
        },
        b"{}",
    )

    def cors_of(origin: str) -> dict[str, str]:
        answer = world.proxy.get(f"/{world.connection}/open", headers={**ACME, "Origin": origin})
        assert answer.status_code == 200
        return {k.lower(): v for k, v in answer.headers.items() if k.lower().startswith("access-")}

    assert cors_of("https://elsewhere.example") == {}
    frontend = cors_of("https://app.example.com")
    assert frontend["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-credentials" not in frontend

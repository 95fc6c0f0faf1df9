"""The outbound client against real loopback HTTP(S) servers (allowlisted in the guard).

Waits are observed through an injected ``sleep`` that advances a fake clock, so no test
sleeps for real except the few that exercise socket timeouts (fractions of a second).
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import httpx
import pytest

from tests.support.certificates import certificate_files
from tests.support.concurrency import together
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.fetch.outcomes import OutcomeCode, describe_failure
from tether.http.auth import BearerAuth, CallbackBearerAuth, HeaderApiKey, QueryApiKey
from tether.http.client import OutboundClient
from tether.http.guard import EgressGuard, Target
from tether.http.host_transports import HostTransports
from tether.http.model import OutboundError, RateSpec
from tether.http.origin import origin_of
from tether.http.rate_limit import LocalRateLimiter
from tether.logs import JsonFormatter, redact, secret_scope

# -- loopback servers ----------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # before the status line
    declare_length: bool = True  # False: no Content-Length, body ends when the socket closes


Script = Callable[[Seen, int], Reply]


class Server:
    """A threaded HTTP/1.1 server on 127.0.0.1 that answers by ``script(request, index)``."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(QuietHandler):
            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with outer.lock:
                    index = len(outer.seen)
                    outer.seen.append(seen)
                reply = outer.script(seen, index)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    if reply.declare_length:
                        self.send_header("Content-Length", str(len(reply.body)))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply.body)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_one  # noqa: N815

        self.serving = LoopbackHTTP(Handler, tls)
        self.port = self.serving.port

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.hostport}{path}"

    def close(self) -> None:
        self.serving.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(script: Script | list[Reply], tls: ssl.SSLContext | None = None) -> Server:
        if isinstance(script, list):
            replies = script
            server = Server(lambda _seen, i: replies[min(i, len(replies) - 1)], tls)
        else:
            server = Server(script, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


class Clock:
    """A fake monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clients() -> Iterator[Callable[..., OutboundClient]]:
    made: list[OutboundClient] = []

    def make(*allowed: Server | str, clock: Clock | None = None, **options: object):
        allow = [a if isinstance(a, str) else a.hostport for a in allowed]
        guard = options.pop("guard", None) or EgressGuard(allow)
        defaults: dict[str, object] = {"random": lambda: 1.0}  # the jitter ceiling, exactly
        if clock is not None:
            defaults |= {"sleep": clock.sleep, "monotonic": clock.monotonic}
        client = OutboundClient(guard, **(defaults | options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- basics --------------------------------------------------------------------------------


def test_get_with_params_and_post_with_json(serve, clients):
    server = serve(lambda seen, _i: Reply(200, {"Content-Type": "application/json"}, b'{"ok":1}'))
    client = clients(server)

    got = client.request("GET", server.url("/items?a=1"), params={"b": 2, "c": True})
    assert got.status == 200
    assert got.json() == {"ok": 1}
    assert got.attempts == 1
    assert got.url == server.url("/items?a=1&b=2&c=true")
    assert server.seen[0].query == {"a": ["1"], "b": ["2"], "c": ["true"]}

    posted = client.request("post", server.url("/items"), json={"name": "x"})
    assert posted.status == 200
    assert server.seen[1].method == "POST"
    assert json.loads(server.seen[1].body) == {"name": "x"}
    assert server.seen[1].headers["content-type"] == "application/json"


def test_4xx_and_5xx_are_answers_not_exceptions(serve, clients):
    server = serve([Reply(404, body=b"nope"), Reply(500, body=b"boom")])
    client = clients(server)
    assert client.request("GET", server.url()).status == 404
    failed = client.request("GET", server.url())
    assert (failed.status, failed.content, failed.attempts) == (500, b"boom", 1)


def test_connects_to_the_checked_ip_with_the_real_host_header(serve, clients):
    server = serve([Reply(200, body=b"hi")])
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    # `.test` names never resolve: the request only works because the client connects to the
    # address the guard checked instead of looking the name up again.
    name = f"api.tether.test:{server.port}"
    client = clients(guard=EgressGuard([name], resolver=resolve))
    got = client.request("GET", f"http://{name}/v1/me")
    assert got.status == 200
    assert got.url == f"http://{name}/v1/me"
    assert lookups == ["api.tether.test"]
    assert server.seen[0].headers["host"] == name
    assert server.seen[0].path == "/v1/me"


def test_a_host_header_from_the_caller_cannot_override_the_checked_one(serve, clients):
    server = serve([Reply(200)])
    clients(server).request("GET", server.url(), headers={"host": "evil.example"})
    assert server.seen[0].headers["host"] == server.hostport


# -- retries -------------------------------------------------------------------------------


def test_503_is_retried_with_exponential_backoff_then_succeeds(serve, clients):
    server = serve([Reply(503), Reply(503), Reply(200, body=b"done")])
    clock = Clock()
    got = clients(server, clock=clock).request("GET", server.url())
    assert (got.status, got.content, got.attempts) == (200, b"done", 3)
    assert clock.sleeps == [0.5, 1.0]  # base 0.5 doubled; random() = 1.0 is the ceiling
    assert len(server.seen) == 3


def test_backoff_uses_full_jitter(serve, clients):
    server = serve([Reply(502), Reply(504), Reply(200)])
    clock = Clock()
    draws = iter([0.2, 0.5])
    clients(server, clock=clock, random=lambda: next(draws)).request("GET", server.url())
    assert clock.sleeps == [0.1, 0.5]  # 0.2 * 0.5, 0.5 * 1.0


def test_after_the_retries_the_last_5xx_is_returned(serve, clients):
    server = serve([Reply(503, body=b"down")])
    clock = Clock()
    got = clients(server, clock=clock, max_retries=2).request("GET", server.url())
    assert (got.status, got.content, got.attempts) == (503, b"down", 3)
    assert len(server.seen) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_429_honours_retry_after_in_seconds(serve, clients):
    server = serve([Reply(429, {"Retry-After": "7"}), Reply(200)])
    clock = Clock()
    got = clients(server, clock=clock).request("GET", server.url())
    assert (got.status, got.attempts) == (200, 2)
    assert clock.sleeps == [7.0]


def test_429_honours_retry_after_as_an_http_date(serve, clients):
    now = 1_750_000_000.0
    when = email.utils.formatdate(now + 12, usegmt=True)
    server = serve([Reply(429, {"Retry-After": when}), Reply(200)])
    clock = Clock()
    got = clients(server, clock=clock, wall_clock=lambda: now).request("GET", server.url())
    assert got.status == 200
    assert clock.sleeps == [12.0]


@pytest.mark.parametrize("odd", ["\xb2", "\xb9\xb2", "1" * 40, "-3", "1.5"])
def test_a_retry_after_that_is_not_ascii_digits_falls_back_to_the_backoff(serve, clients, odd):
    # "\xb2" reaches the client as "²": str.isdigit() accepts it, int() and float() do not.
    server = serve([Reply(429, {"Retry-After": odd}), Reply(200)])
    clock = Clock()
    got = clients(server, clock=clock).request("GET", server.url())
    assert (got.status, got.attempts) == (200, 2)
    assert clock.sleeps == [0.5]


def test_a_retry_after_beyond_the_backoff_cap_returns_the_429(serve, clients):
    server = serve([Reply(429, {"Retry-After": "120"}, b"slow down"), Reply(200)])
    clock = Clock()
    got = clients(server, clock=clock, backoff_max=20.0).request("GET", server.url())
    assert (got.status, got.attempts, got.headers["retry-after"]) == (429, 1, "120")
    assert clock.sleeps == []
    assert len(server.seen) == 1


def test_a_retry_after_beyond_the_deadline_returns_the_429(serve, clients):
    server = serve([Reply(429, {"Retry-After": "8"}), Reply(200)])
    clock = Clock()
    got = clients(server, clock=clock, total_timeout=5.0).request("GET", server.url())
    assert (got.status, got.attempts) == (429, 1)
    assert clock.sleeps == []


def test_post_is_not_retried_unless_asked(serve, clients):
    server = serve([Reply(503), Reply(200)])
    clock = Clock()
    client = clients(server, clock=clock)
    got = client.request("POST", server.url(), content=b"x")
    assert (got.status, got.attempts) == (503, 1)
    assert len(server.seen) == 1

    server2 = serve([Reply(503), Reply(200)])
    client2 = clients(server2, clock=clock)
    retried = client2.request("POST", server2.url(), content=b"x", retry_unsafe=True)
    assert (retried.status, retried.attempts) == (200, 2)
    assert [s.body for s in server2.seen] == [b"x", b"x"]


def test_connection_refused_is_retried_then_raised(clients):
    port = free_port()  # nothing listens there
    clock = Clock()
    client = clients(f"127.0.0.1:{port}", clock=clock, max_retries=2)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", f"http://127.0.0.1:{port}/")
    assert caught.value.failure == "connect"
    assert caught.value.retryable is True
    assert clock.sleeps == [0.5, 1.0]


def test_a_post_that_could_not_connect_is_retried_since_nothing_was_sent(clients):
    port = free_port()
    clock = Clock()
    client = clients(f"127.0.0.1:{port}", clock=clock, max_retries=1)
    with pytest.raises(OutboundError):
        client.request("POST", f"http://127.0.0.1:{port}/", content=b"x")
    assert clock.sleeps == [0.5]


def test_the_total_deadline_stops_the_retries(serve, clients):
    server = serve([Reply(503)])
    clock = Clock()
    got = clients(server, clock=clock, total_timeout=2.0, max_retries=10).request(
        "GET", server.url()
    )
    # Waits of 0.5 and 1.0 fit in 2 s; the next (2.0) would not.
    assert (got.status, got.attempts) == (503, 3)
    assert clock.sleeps == [0.5, 1.0]


# -- timeouts and size -----------------------------------------------------------------------


def test_read_timeout(serve, clients):
    server = serve([Reply(200, delay=1.0)])
    client = clients(server, read_timeout=0.1, max_retries=0)
    started = time.monotonic()
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url())
    assert caught.value.failure == "timeout"
    assert caught.value.retryable is True
    assert time.monotonic() - started < 0.8


def test_the_total_deadline_bounds_a_slow_response(serve, clients):
    server = serve([Reply(200, delay=1.5)])
    client = clients(server, read_timeout=10.0, total_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url())
    assert caught.value.failure == "timeout"
    assert time.monotonic() - started < 1.2


def test_a_per_call_timeout_overrides_the_total(serve, clients):
    server = serve([Reply(200, delay=1.0)])
    client = clients(server, read_timeout=10.0, total_timeout=30.0)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url(), timeout=0.2)
    assert caught.value.failure == "timeout"


@pytest.mark.parametrize("declare_length", [True, False])
def test_responses_over_the_size_cap_are_refused(serve, clients, declare_length):
    server = serve([Reply(200, body=b"x" * 300_000, declare_length=declare_length)])
    client = clients(server, max_response_bytes=100_000)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url())
    assert caught.value.failure == "too_large"
    assert caught.value.retryable is False
    assert len(server.seen) == 1  # not retried


def test_the_size_cap_applies_to_the_decoded_body(serve, clients):
    bomb = gzip.compress(b"\0" * 2_000_000)
    assert len(bomb) < 10_000
    server = serve([Reply(200, {"Content-Encoding": "gzip"}, bomb)])
    with pytest.raises(OutboundError) as caught:
        clients(server, max_response_bytes=100_000).request("GET", server.url())
    assert caught.value.failure == "too_large"


def test_a_body_at_the_cap_is_fine(serve, clients):
    server = serve([Reply(200, body=b"y" * 1000, declare_length=False)])
    got = clients(server, max_response_bytes=1000).request("GET", server.url())
    assert got.content == b"y" * 1000


def _deflated(data: bytes, *, raw: bool) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", lambda data: _deflated(data, raw=False)),
        ("deflate", lambda data: _deflated(data, raw=True)),  # as some servers send it
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("deflate, gzip", lambda data: gzip.compress(_deflated(data, raw=False))),
        ("identity", lambda data: data),
    ],
)
def test_content_codings_are_undone(serve, clients, coding, encode):
    body = bytes(range(256)) * 4000  # more than one piece of the decoder
    server = serve([Reply(200, {"Content-Encoding": coding}, encode(body))])
    assert clients(server).request("GET", server.url()).content == body


def test_a_body_that_is_not_its_coding_is_a_protocol_failure(serve, clients):
    server = serve([Reply(200, {"Content-Encoding": "gzip"}, b"not gzip at all")])
    with pytest.raises(OutboundError) as caught:
        clients(server).request("GET", server.url())
    assert caught.value.failure == "protocol"


def test_a_url_httpx_cannot_build_is_an_invalid_url_failure(serve, clients):
    server = serve([Reply(200)])
    with pytest.raises(OutboundError) as caught:
        clients(server).request("GET", server.url("/x?ids=" + "x" * 70_000))
    assert (caught.value.failure, caught.value.retryable) == ("invalid_url", False)
    assert server.seen == []


def test_a_header_http_cannot_carry_is_an_invalid_request_not_the_providers_fault(serve, clients):
    """A header value with a line break is refused on our side before a byte is sent: the
    provider did nothing wrong, so it is not a protocol error of its answer."""
    server = serve([Reply(200)])
    with pytest.raises(OutboundError) as caught:
        clients(server).request("GET", server.url("/x"), headers={"X-Note": "a\nb"})
    assert (caught.value.failure, caught.value.retryable) == ("invalid_request", False)
    assert "answer" not in str(caught.value)
    assert server.seen == []
    code, message = describe_failure("invalid_request", "api.example.com")
    assert code == OutcomeCode.INVALID_CONFIG
    assert "was not sent" in message and "answer" not in message


# -- redirects -----------------------------------------------------------------------------


def test_redirects_are_followed_and_rechecked(serve, clients):
    target = serve([Reply(200, body=b"landed")])
    origin = serve([Reply(302, {"Location": target.url("/end?x=1")})])
    got = clients(origin, target).request("GET", origin.url("/start"))
    assert (got.status, got.content) == (200, b"landed")
    assert got.url == target.url("/end?x=1")
    assert target.seen[0].path == "/end?x=1"


def test_a_redirect_to_a_blocked_host_is_refused_without_connecting(serve, clients):
    internal = serve([Reply(200, body=b"secret metadata")])  # running, but not allowlisted
    origin = serve([Reply(302, {"Location": internal.url("/computeMetadata")})])
    with pytest.raises(OutboundError) as caught:
        clients(origin).request("GET", origin.url())
    assert caught.value.code == "BLOCKED_DESTINATION"
    assert internal.seen == []

    to_metadata = serve([Reply(301, {"Location": "http://169.254.169.254/latest/meta-data/"})])
    with pytest.raises(OutboundError) as caught:
        clients(to_metadata).request("GET", to_metadata.url())
    assert caught.value.code == "BLOCKED_DESTINATION"

    to_ftp = serve([Reply(307, {"Location": "ftp://example.com/"})])
    with pytest.raises(OutboundError) as caught:
        clients(to_ftp).request("GET", to_ftp.url())
    assert caught.value.code == "BLOCKED_DESTINATION"


def test_the_redirect_hop_limit(serve, clients):
    server = serve(lambda seen, i: Reply(302, {"Location": f"/hop{i + 1}"}))
    with pytest.raises(OutboundError) as caught:
        clients(server, max_redirects=3).request("GET", server.url("/hop0"))
    assert caught.value.failure == "too_many_redirects"
    assert [s.path for s in server.seen] == ["/hop0", "/hop1", "/hop2", "/hop3"]


def test_303_and_a_302_after_post_become_get_without_body(serve, clients):
    for status in (303, 302, 301):
        server = serve(
            lambda seen, _i, status=status: (
                Reply(status, {"Location": "/result"}) if seen.path == "/submit" else Reply(200)
            )
        )
        clients(server).request("POST", server.url("/submit"), json={"a": 1})
        assert [(s.method, s.path) for s in server.seen] == [
            ("POST", "/submit"),
            ("GET", "/result"),
        ]
        assert server.seen[1].body == b""
        assert "content-type" not in server.seen[1].headers


def test_307_and_308_keep_the_method_and_body(serve, clients):
    for status in (307, 308):
        server = serve(
            lambda seen, _i, status=status: (
                Reply(status, {"Location": "/again"}) if seen.path == "/first" else Reply(201)
            )
        )
        got = clients(server).request("POST", server.url("/first"), content=b"payload")
        assert got.status == 201
        assert [(s.method, s.body) for s in server.seen] == [
            ("POST", b"payload"),
            ("POST", b"payload"),
        ]


def test_credentials_stay_on_their_origin_across_redirects(serve, clients):
    key = "query-secret-0123"
    other = serve([Reply(200)])
    other_origin = f"localhost:{other.port}"  # another host name: another origin
    origin = serve(
        lambda seen, _i: (
            Reply(302, {"Location": "/same-origin"})
            if seen.path.startswith("/start")
            else Reply(302, {"Location": f"http://{other_origin}/next?api_key={key}&page=2"})
        )
    )
    client = clients(origin, other_origin)
    got = client.request(
        "GET",
        origin.url("/start"),
        headers={"Cookie": "session=abc", "X-Trace": "t1"},
        auth=QueryApiKey("api_key", key),
    )
    assert got.status == 200
    # Same origin: the key is sent again.
    assert [s.query.get("api_key") for s in origin.seen] == [[key], [key]]
    # Another origin: no key in the query (even the one the Location echoed), no cookie.
    seen = other.seen[0]
    assert "api_key" not in seen.query
    assert seen.query["page"] == ["2"]
    assert "cookie" not in seen.headers
    assert seen.headers["x-trace"] == "t1"

    bearer_target = serve([Reply(200)])
    bearer_origin = serve([Reply(307, {"Location": f"http://localhost:{bearer_target.port}/"})])
    clients(bearer_origin, f"localhost:{bearer_target.port}").request(
        "GET", bearer_origin.url(), auth=BearerAuth("bearer-secret-0123")
    )
    assert bearer_origin.seen[0].headers["authorization"] == "Bearer bearer-secret-0123"
    assert "authorization" not in bearer_target.seen[0].headers


@pytest.mark.parametrize("written", ["{key}", "{quoted}"])
def test_a_secret_a_location_echoes_raw_does_not_follow_to_another_origin(serve, clients, written):
    """A provider's open redirect may copy the key into the next URL as it decoded it, with
    a "+" a query reader takes for a space: it is still the key."""
    key = "query+secret/0123="
    echoed = written.format(key=key, quoted=quote(key, safe=""))
    other = serve([Reply(200)])
    other_origin = f"localhost:{other.port}"
    origin = serve([Reply(302, {"Location": f"http://{other_origin}/next?k={echoed}&page=2"})])
    clients(origin, other_origin).request(
        "GET", origin.url("/start"), auth=QueryApiKey("api_key", key)
    )
    assert other.seen[0].query == {"page": ["2"]}


def test_bound_credentials_are_never_sent_to_another_origin(serve, clients):
    home = serve([Reply(200)])
    stranger = serve([Reply(200)])
    client = clients(home, stranger)
    bound = {origin_of(home.url())}

    with pytest.raises(OutboundError) as refused:
        client.request(
            "GET", stranger.url("/me"), auth=BearerAuth("bound-secret-0123"), auth_origins=bound
        )

    assert refused.value.code == "CREDENTIALS_NOT_BOUND"
    assert refused.value.failure == "blocked"
    assert "bound-secret" not in str(refused.value)
    assert stranger.seen == []
    client.request("GET", home.url("/me"), auth=BearerAuth("bound-secret-0123"), auth_origins=bound)
    assert home.seen[0].headers["authorization"] == "Bearer bound-secret-0123"
    # Unbound requests (no auth) go anywhere the guard allows.
    assert client.request("GET", stranger.url("/"), auth_origins=bound).status == 200


def test_a_caller_authorization_header_is_dropped_on_another_origin(serve, clients):
    target = serve([Reply(200)])
    origin = serve([Reply(302, {"Location": f"http://localhost:{target.port}/"})])
    clients(origin, f"localhost:{target.port}").request(
        "GET", origin.url(), headers={"Authorization": "Token handmade-secret"}
    )
    assert origin.seen[0].headers["authorization"] == "Token handmade-secret"
    assert "authorization" not in target.seen[0].headers


# -- auth ----------------------------------------------------------------------------------


def test_401_refreshes_once_and_retries_once(serve, clients):
    server = serve(
        lambda seen, _i: (
            Reply(200, body=b"ok")
            if seen.headers.get("authorization") == "Bearer fresh-token-2"
            else Reply(401)
        )
    )
    refreshes: list[int] = []

    def refresh() -> str | None:
        refreshes.append(1)
        return "fresh-token-2"

    auth = CallbackBearerAuth(lambda: "stale-token-1", refresh)
    got = clients(server).request("POST", server.url(), json={}, auth=auth)
    assert (got.status, got.attempts) == (200, 2)
    assert len(refreshes) == 1
    assert [s.headers["authorization"] for s in server.seen] == [
        "Bearer stale-token-1",
        "Bearer fresh-token-2",
    ]
    assert set(auth.secrets()) == {"stale-token-1", "fresh-token-2"}


def test_a_second_401_is_returned(serve, clients):
    server = serve([Reply(401)])
    refreshes: list[int] = []
    auth = CallbackBearerAuth(lambda: "token-aaaa", lambda: refreshes.append(1) or "token-bbbb")
    got = clients(server).request("GET", server.url(), auth=auth)
    assert (got.status, got.attempts) == (401, 2)
    assert len(refreshes) == 1


def test_a_401_without_a_new_token_is_returned_at_once(serve, clients):
    server = serve([Reply(401)])
    auth = CallbackBearerAuth(lambda: "token-aaaa", lambda: None)
    got = clients(server).request("GET", server.url(), auth=auth)
    assert (got.status, got.attempts) == (401, 1)
    static = clients(server).request("GET", server.url(), auth=BearerAuth("static-token"))
    assert (static.status, static.attempts) == (401, 1)


def test_custom_auth_headers(serve, clients):
    server = serve([Reply(200)])
    client = clients(server)
    client.request("GET", server.url(), auth=HeaderApiKey("X-Api-Key", "key-123456"))
    client.request("GET", server.url(), auth=HeaderApiKey("Authorization", "abcdef", "Token "))
    client.request(
        "GET",
        server.url(),
        auth=CallbackBearerAuth(
            lambda: "tok-xyz", lambda: None, header="X-Access", token_prefix=""
        ),
    )
    assert server.seen[0].headers["x-api-key"] == "key-123456"
    assert server.seen[1].headers["authorization"] == "Token abcdef"
    assert server.seen[2].headers["x-access"] == "tok-xyz"
    assert "authorization" not in server.seen[2].headers


# -- redaction -----------------------------------------------------------------------------


def test_credentials_are_redacted_from_url_errors_and_logs(serve, clients, caplog):
    key = "sk-live/abc+def=ghi&123"  # characters that URL-encode differently
    forms = {key, quote(key, safe=""), quote_plus(key), quote(key)}
    server = serve([Reply(200)])
    caplog.set_level(logging.DEBUG)
    with secret_scope():
        client = clients(server)
        got = client.request("GET", server.url("/data?x=1"), auth=QueryApiKey("api_key", key))
        assert server.seen[0].query["api_key"] == [key]  # really sent
        assert not any(f in got.url for f in forms)
        assert got.url == server.url("/data?x=1&api_key=[REDACTED]")

        # An error after the key was applied (the port is closed now).
        dead = free_port()
        with pytest.raises(OutboundError) as caught:
            clients(f"127.0.0.1:{dead}", max_retries=0).request(
                "GET",
                f"http://127.0.0.1:{dead}/?api_key={quote(key, safe='')}",
                auth=QueryApiKey("api_key", key),
            )
        assert not any(f in str(caught.value) or f in repr(caught.value) for f in forms)

        # Every log line written during the calls, from any logger, and as formatted.
        formatter = JsonFormatter()
        for record in caplog.records:
            line = formatter.format(record)
            assert not any(f in record.getMessage() for f in forms), record.getMessage()
            assert not any(f in line for f in forms), line
        # Registered: later lines of this request/task are masked too.
        assert redact(f"oops {quote(key, safe='')}") == "oops [REDACTED]"

    ours = [r for r in caplog.records if r.name == "tether.outbound"]
    assert len(ours) == 2
    assert ours[0].levelno == logging.DEBUG
    message = ours[0].getMessage()
    assert "GET 127.0.0.1 -> 200 attempts=1" in message
    assert "?" not in message and "/data" not in message
    assert ours[0].outbound["status"] == 200  # type: ignore[attr-defined]
    assert "failed (connect)" in ours[1].getMessage()


def test_error_messages_name_the_host_only(serve, clients):
    server = serve([Reply(200, body=b"x" * 5000)])
    with pytest.raises(OutboundError) as caught:
        clients(server, max_response_bytes=100).request(
            "GET", server.url("/private/path?token=abcdefgh")
        )
    assert "127.0.0.1" in caught.value.message
    assert "private" not in caught.value.message
    assert "abcdefgh" not in caught.value.message


# -- rate limits ---------------------------------------------------------------------------


def test_the_rate_limiter_is_respected(serve, clients):
    server = serve([Reply(200)])
    clock = Clock()
    limiter = LocalRateLimiter(monotonic=clock.monotonic)
    client = clients(server, clock=clock, rate_limiter=limiter)
    rate = RateSpec(per_minute=60, burst=2)
    for _ in range(4):
        assert client.request("GET", server.url(), rate_key="conn-1", rate=rate).status == 200
    assert clock.sleeps == [1.0, 1.0]  # burst of 2, then one token a second
    # Another key has its own bucket.
    client.request("GET", server.url(), rate_key="conn-2", rate=rate)
    assert clock.sleeps == [1.0, 1.0]
    assert len(server.seen) == 5


def test_a_rate_limit_wait_beyond_the_deadline_fails(serve, clients):
    server = serve([Reply(200)])
    clock = Clock()
    client = clients(server, clock=clock, total_timeout=10.0)
    rate = RateSpec(per_minute=1, burst=1)
    client.request("GET", server.url(), rate_key="k", rate=rate)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", server.url(), rate_key="k", rate=rate)
    assert caught.value.failure == "rate_limited"
    assert caught.value.retryable is True
    assert len(server.seen) == 1
    assert clock.sleeps == []


def test_retries_also_take_rate_limit_permits(serve, clients):
    server = serve([Reply(503), Reply(200)])
    clock = Clock()
    client = clients(server, clock=clock)
    got = client.request("GET", server.url(), rate_key="k", rate=RateSpec(per_minute=60, burst=1))
    assert got.status == 200
    # Backoff 0.5 s, then the bucket still needs 0.5 s for its next token.
    assert clock.sleeps == [0.5, 0.5]


HEADERS = {"remaining": "X-RateLimit-Remaining", "reset": "X-RateLimit-Reset"}


def test_provider_remaining_zero_waits_for_a_reset_in_seconds(serve, clients):
    server = serve(
        [Reply(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}), Reply(200)]
    )
    clock = Clock()
    client = clients(server, clock=clock)
    client.request("GET", server.url(), rate_key="c", rate_limit_headers=HEADERS)
    assert clock.sleeps == []
    client.request("GET", server.url(), rate_key="c", rate_limit_headers=HEADERS)
    assert clock.sleeps == [4.0]


def test_provider_remaining_zero_waits_for_a_reset_as_epoch(serve, clients):
    now = 1_750_000_000.0
    server = serve(
        [
            Reply(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now) + 9)}),
            Reply(200, {"X-RateLimit-Remaining": "41", "X-RateLimit-Reset": str(int(now) + 60)}),
        ]
    )
    clock = Clock()
    client = clients(server, clock=clock, wall_clock=lambda: now)
    for _ in range(3):
        client.request("GET", server.url(), rate_key="c", rate_limit_headers=HEADERS)
    assert clock.sleeps == [9.0]  # the third request had remaining 41: no wait


def test_a_429_with_remaining_zero_waits_for_the_reset(serve, clients):
    server = serve(
        [Reply(429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "6"}), Reply(200)]
    )
    clock = Clock()
    got = clients(server, clock=clock).request(
        "GET", server.url(), rate_key="c", rate_limit_headers=HEADERS
    )
    assert (got.status, got.attempts) == (200, 2)
    assert clock.sleeps == [6.0]


def test_local_rate_limiter_buckets():
    clock = Clock()
    limiter = LocalRateLimiter(monotonic=clock.monotonic)
    rate = RateSpec(per_minute=120, burst=3)
    assert [limiter.acquire("a", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a", rate) == pytest.approx(0.5)
    clock.now += 0.25
    assert limiter.acquire("a", rate) == pytest.approx(0.25)  # asking again takes nothing
    clock.now += 0.25
    assert limiter.acquire("a", rate) == 0.0
    clock.now += 100  # refills up to the burst only
    assert [limiter.acquire("a", rate) for _ in range(4)][-1] > 0
    assert limiter.acquire("b", rate) == 0.0


def test_local_rate_limiter_is_thread_safe():
    limiter = LocalRateLimiter(monotonic=lambda: 0.0)  # no time passes: no refill
    rate = RateSpec(per_minute=60, burst=50)

    def worker() -> list[float]:
        return [limiter.acquire("k", rate) for _ in range(20)]

    granted = [wait for f in together([worker] * 10) for wait in f.result()]
    assert granted.count(0.0) == 50


# -- TLS -----------------------------------------------------------------------------------


class Recording(httpx.BaseTransport):
    """Records what the client hands the transport (URL and extensions), then sends it."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def tls_server(serve, tmp_path: Path, name: str) -> tuple[Server, bytes, list[str | None]]:
    cert_path, key_path, pem = certificate_files(tmp_path, [name], name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    sni_seen: list[str | None] = []
    context.sni_callback = lambda _sock, server_name, _ctx: sni_seen.append(server_name)
    return serve([Reply(200, body=b"secure")], tls=context), pem, sni_seen


def test_tls_sni_and_verification_use_the_name_while_connecting_to_the_ip(serve, clients, tmp_path):
    server, pem, sni_seen = tls_server(serve, tmp_path, "localhost")
    trust = ssl.create_default_context(cadata=pem.decode())
    transport = Recording(httpx.HTTPTransport(verify=trust))
    name = f"localhost:{server.port}"
    client = clients(
        guard=EgressGuard([name], resolver=lambda host, port: ["127.0.0.1"]),
        transport=transport,
    )
    got = client.request("GET", f"https://{name}/hello")
    assert (got.status, got.content) == (200, b"secure")
    assert got.url == f"https://{name}/hello"
    sent = transport.requests[0]
    assert sent.url.host == "127.0.0.1"  # connected to the checked address
    assert sent.extensions["sni_hostname"] == "localhost"
    assert sent.headers["host"] == name
    assert sni_seen == ["localhost"]  # what the server saw in the handshake
    assert server.seen[0].headers["host"] == name
    transport.close()


def test_tls_with_a_certificate_for_another_name_fails(serve, clients, tmp_path):
    server, pem, _sni = tls_server(serve, tmp_path, "other.example")
    trust = ssl.create_default_context(cadata=pem.decode())
    transport = httpx.HTTPTransport(verify=trust)
    name = f"localhost:{server.port}"
    client = clients(
        guard=EgressGuard([name], resolver=lambda host, port: ["127.0.0.1"]),
        transport=transport,
    )
    with pytest.raises(OutboundError) as caught:
        client.request("GET", f"https://{name}/")
    assert caught.value.failure == "tls"
    assert caught.value.retryable is False
    assert server.seen == []
    transport.close()


def test_tls_is_verified_against_the_url_name_not_the_address(serve, clients, tmp_path):
    server, pem, _sni = tls_server(serve, tmp_path, "localhost")
    trust = ssl.create_default_context(cadata=pem.decode())
    transport = httpx.HTTPTransport(verify=trust)
    client = clients(server, transport=transport)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", f"https://127.0.0.1:{server.port}/")  # cert is for localhost
    assert caught.value.failure == "tls"
    transport.close()


# -- error mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "failure"),
    [
        (httpx.ConnectTimeout("t"), "timeout"),
        (httpx.ReadTimeout("t"), "timeout"),
        (httpx.WriteTimeout("t"), "timeout"),
        (httpx.PoolTimeout("t"), "timeout"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connect"),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "tls"),
        (httpx.ReadError("reset"), "connect"),
        (httpx.RemoteProtocolError("illegal header"), "protocol"),
    ],
)
def test_httpx_errors_map_to_failures(raised, failure):
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    guard = EgressGuard(resolver=lambda host, port: ["93.184.216.34"])
    client = OutboundClient(guard, transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(OutboundError) as caught:
        client.request("GET", "https://api.example.com/")
    assert caught.value.failure == failure
    assert "api.example.com" in caught.value.message


def test_a_head_response_declaring_a_large_body_is_fine(serve, clients):
    server = serve([Reply(200, body=b"x" * 300_000)])
    got = clients(server, max_response_bytes=1000).request("HEAD", server.url())
    assert (got.status, got.content, got.headers["content-length"]) == (200, b"", "300000")


class Answering(httpx.BaseTransport):
    """A transport that answers 200 and notes itself as the one that answered last."""

    def __init__(self, answered: list[Answering]) -> None:
        self.answered = answered

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.answered.append(self)
        return httpx.Response(200)


def test_default_transports_are_kept_per_https_origin():
    def target(scheme: str, host: str) -> Target:
        return Target(scheme, host, 443 if scheme == "https" else 80, "93.184.216.34", "/")

    answered: list[Answering] = []
    transports = HostTransports(factory=lambda: Answering(answered))

    def lease(scheme: str, host: str) -> Answering:
        request = httpx.Request("GET", "http://93.184.216.34/")
        transports.handle_request(target(scheme, host), request).close()
        return answered[-1]

    a1 = lease("https", "a.example")
    a2 = lease("https", "a.example")
    b = lease("https", "b.example")
    h1 = lease("http", "a.example")
    h2 = lease("http", "b.example")
    # A TLS connection verified for one name never carries a request for another name.
    assert a1 is a2
    assert b is not a1
    assert h1 is h2
    transports.close()

"""The one bounded pool of per-host transports, against a real loopback TLS server whose
certificate names many hosts (all resolved to 127.0.0.1 by the guard's resolver hook).

The server knows which of its connections are open and for which name each was opened (the
SNI of its handshake), so the tests see the client's sockets close from the other end.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.certificates import certificate_files
from tests.support.loopback_http import LoopbackHTTP, QuietHandler
from tether.bootstrap import Container
from tether.config import Settings
from tether.domain.errors import ConfigurationError
from tether.http.client import OutboundClient
from tether.http.guard import EgressGuard
from tether.http.guarded_transport import GuardedTransport
from tether.http.host_transports import DEFAULT_MAX_HOSTS, HostTransports
from tether.http.model import OutboundError

NAMES = [f"h{i}.pool.test" for i in range(12)]
HALF = 32 * 1024  # each half of the streamed body


class PoolServer:
    """HTTP/1.1 on 127.0.0.1 (TLS when given a context). ``/`` answers with the name in the
    ``Host`` header; ``/slow`` sends half its body, waits for :attr:`release`, then the rest."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.lock = threading.Lock()
        self.sni: dict[object, str] = {}  # TLS socket -> the name of its handshake
        self.open: dict[int, str] = {}  # handler id -> the name its connection was opened for
        self.mismatches: list[tuple[str, str]] = []  # (SNI, Host) pairs that differ
        self.release = threading.Event()
        outer = self
        if tls is not None:
            tls.sni_callback = self._note_sni

        class Handler(QuietHandler):
            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.open[id(self)] = outer.sni.get(self.request, "plain")

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with outer.lock:
                        outer.open.pop(id(self), None)
                        outer.sni.pop(self.request, None)

            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                host = self.headers.get("Host", "").rsplit(":", 1)[0]
                with outer.lock:
                    sni = outer.sni.get(self.request)
                    if sni is not None and sni != host:
                        outer.mismatches.append((sni, host))
                if self.path in ("/big", "/cut"):
                    # /big: more than the clients take, its end the socket's; /cut: half of
                    # the declared body, then the socket closes.
                    self.send_response(200)
                    if self.path == "/cut":
                        self.send_header("Content-Length", str(2 * HALF))
                    else:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"a" * (HALF if self.path == "/cut" else 8 * HALF))
                    self.close_connection = True
                    return
                if self.path == "/slow":
                    self.send_response(200)
                    self.send_header("Content-Length", str(2 * HALF))
                    self.end_headers()
                    self.wfile.write(b"a" * HALF)
                    self.wfile.flush()
                    outer.release.wait(10)
                    self.wfile.write(b"b" * HALF)
                    return
                body = host.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.serving = LoopbackHTTP(Handler, tls)
        self.port = self.serving.port

    def _note_sni(self, sock: object, name: str | None, _context: ssl.SSLContext) -> None:
        with self.lock:
            self.sni[sock] = name or "-"

    def open_names(self) -> list[str]:
        """The names of the connections open right now, sorted."""
        with self.lock:
            return sorted(self.open.values())

    def close(self) -> None:
        self.release.set()
        self.serving.close()


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Whether ``check`` holds within ``timeout`` (sockets close on the server a bit later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[PoolServer, str]]:
    cert_path, key_path, pem = certificate_files(tmp_path, NAMES, "pool")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = PoolServer(context)
    yield server, pem.decode()
    server.close()


@pytest.fixture
def pool_for(
    tls_server: tuple[PoolServer, str],
) -> Iterator[Callable[..., tuple[HostTransports, EgressGuard]]]:
    """A pool of at most ``max_hosts`` transports trusting the server's certificate (each of
    at most ``connections`` connections), and a guard that lets every name of :data:`NAMES`
    through to 127.0.0.1."""
    server, pem = tls_server
    trust = ssl.create_default_context(cadata=pem)
    made: list[HostTransports] = []

    def make(max_hosts: int, connections: int = 100) -> tuple[HostTransports, EgressGuard]:
        limits = httpx.Limits(max_connections=connections)
        pool = HostTransports(
            max_hosts=max_hosts,
            factory=lambda: httpx.HTTPTransport(verify=trust, limits=limits),
        )
        made.append(pool)
        guard = EgressGuard(
            [f"{n}:{server.port}" for n in NAMES], resolver=lambda _host, _port: ["127.0.0.1"]
        )
        return pool, guard

    yield make
    for pool in made:
        pool.close()


def url(server: PoolServer, name: str, path: str = "/") -> str:
    return f"https://{name}:{server.port}{path}"


def key(server: PoolServer, name: str) -> str:
    return f"https://{name}:{server.port}"


# -- bounded, least recently used, and what it evicts is closed --------------------------------


@pytest.mark.parametrize("through", ["guarded_transport", "outbound_client"])
def test_the_pool_stays_bounded_and_closes_the_sockets_it_evicts(tls_server, pool_for, through):
    server, _pem = tls_server
    pool, guard = pool_for(3)
    guarded = httpx.Client(transport=GuardedTransport(guard, transports=pool))
    outbound = OutboundClient(guard, transports=pool, max_retries=0)

    def get(name: str) -> str:
        if through == "guarded_transport":
            return guarded.get(url(server, name)).text
        return outbound.request("GET", url(server, name)).content.decode()

    for name in NAMES[:10]:
        assert get(name) == name
        assert len(pool.pooled_keys()) <= 3
    assert pool.pooled_keys() == [key(server, n) for n in NAMES[7:10]]
    # The evicted transports closed their keep-alive connections: only the last three remain.
    assert eventually(lambda: server.open_names() == NAMES[7:10]), server.open_names()

    # Least recently *used* goes first: h7 used again outlives h8.
    assert get(NAMES[7]) == NAMES[7]
    assert get(NAMES[10]) == NAMES[10]
    assert pool.pooled_keys() == [key(server, n) for n in (NAMES[9], NAMES[7], NAMES[10])]
    assert eventually(lambda: server.open_names() == sorted([NAMES[7], NAMES[9], NAMES[10]]))
    assert server.mismatches == []
    guarded.close()
    outbound.close()
    # Neither client owns the shared pool: closing them leaves its connections alone.
    assert len(pool.pooled_keys()) == 3


# -- a streamed response outlives its transport's eviction -------------------------------------


# -- a connection goes back to its pool however its response ends --------------------------


@pytest.mark.parametrize(
    "ending",
    [
        "outbound_client_over_the_size_cap",
        "outbound_client_cut_mid_stream",
        "httpx_stream_cut_mid_stream_never_closed",
        "httpx_stream_abandoned_never_closed",
    ],
)
def test_a_connection_is_released_after_an_early_exit_or_an_error_mid_stream(
    tls_server, pool_for, ending
):
    """One connection per host and one host in the pool: a response that kept its connection
    or its lease would make the next request on that host wait for the pool (and time out),
    and would keep its transport open after its eviction."""
    server, _pem = tls_server
    pool, guard = pool_for(1, connections=1)
    outbound = OutboundClient(
        guard, transports=pool, max_retries=0, connect_timeout=2.0, max_response_bytes=HALF
    )
    guarded = httpx.Client(
        transport=GuardedTransport(guard, transports=pool), timeout=httpx.Timeout(5.0, pool=2.0)
    )
    if ending == "outbound_client_over_the_size_cap":
        with pytest.raises(OutboundError) as failed:
            outbound.request("GET", url(server, NAMES[0], "/big"))
        assert failed.value.code == "OUTBOUND_TOO_LARGE"
    elif ending == "outbound_client_cut_mid_stream":
        with pytest.raises(OutboundError):
            outbound.request("GET", url(server, NAMES[0], "/cut"))
    elif ending == "httpx_stream_cut_mid_stream_never_closed":
        response = guarded.send(
            guarded.build_request("GET", url(server, NAMES[0], "/cut")), stream=True
        )
        with pytest.raises(httpx.RemoteProtocolError):
            for _chunk in response.iter_bytes():
                pass
    else:
        response = guarded.send(
            guarded.build_request("GET", url(server, NAMES[0], "/slow")), stream=True
        )
        chunks = response.iter_bytes(HALF)
        assert next(chunks) == b"a" * HALF
        del chunks  # the caller stops reading and forgets to close the response
        server.release.set()

    # The host's one connection is free again: the next request on it is served at once.
    assert guarded.get(url(server, NAMES[0])).text == NAMES[0]
    assert outbound.request("GET", url(server, NAMES[0])).content == NAMES[0].encode()
    # And nothing holds the host's transport: evicted, it is closed with its sockets.
    assert guarded.get(url(server, NAMES[1])).text == NAMES[1]
    assert pool.pooled_keys() == [key(server, NAMES[1])]
    assert pool.retired_in_flight() == 0
    assert eventually(lambda: NAMES[0] not in server.open_names()), server.open_names()
    guarded.close()
    outbound.close()


@pytest.mark.parametrize("retire_by", ["eviction", "closing_the_pool"])
def test_a_streamed_response_survives_its_transport_being_retired(tls_server, pool_for, retire_by):
    server, _pem = tls_server
    pool, guard = pool_for(2)
    client = httpx.Client(transport=GuardedTransport(guard, transports=pool))
    with client.stream("GET", url(server, NAMES[0], "/slow")) as response:
        chunks = response.iter_bytes(HALF)
        first = next(chunks)
        if retire_by == "eviction":
            for name in NAMES[1:4]:
                assert client.get(url(server, name)).text == name
            assert key(server, NAMES[0]) not in pool.pooled_keys()
        else:
            pool.close()
            assert pool.pooled_keys() == []
        assert pool.retired_in_flight() == 1
        assert NAMES[0] in server.open_names()  # still streaming on its own socket
        server.release.set()
        rest = b"".join(chunks)
    assert first + rest == b"a" * HALF + b"b" * HALF
    # The response is closed: its retired transport is closed too, and its socket with it.
    assert pool.retired_in_flight() == 0
    assert eventually(lambda: NAMES[0] not in server.open_names()), server.open_names()
    if retire_by == "eviction":
        assert server.open_names() == sorted(NAMES[2:4])  # what the pool still holds
    client.close()


def test_a_closed_pool_refuses_new_requests(tls_server, pool_for):
    server, _pem = tls_server
    pool, guard = pool_for(2)
    pool.close()
    with (
        httpx.Client(transport=GuardedTransport(guard, transports=pool)) as client,
        pytest.raises(RuntimeError, match="closed"),
    ):
        client.get(url(server, NAMES[0]))


# -- threads -----------------------------------------------------------------------------------


def test_threads_share_the_pool_safely(tls_server, pool_for):
    server, _pem = tls_server
    pool, guard = pool_for(4)
    guarded = httpx.Client(transport=GuardedTransport(guard, transports=pool))
    outbound = OutboundClient(guard, transports=pool, max_retries=0)
    wrong: list[tuple[str, str]] = []
    failures: list[BaseException] = []
    largest = [0]
    start = threading.Barrier(8)

    def work(index: int) -> None:
        start.wait()
        for step in range(25):
            name = NAMES[(index * 5 + step * 7) % len(NAMES)]
            try:
                if index % 2:
                    got = guarded.get(url(server, name)).text
                else:
                    got = outbound.request("GET", url(server, name)).content.decode()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)
                return
            if got != name:
                wrong.append((name, got))
            largest[0] = max(largest[0], len(pool.pooled_keys()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert wrong == []
    assert server.mismatches == []  # no TLS connection carried a request for another name
    assert largest[0] <= 4
    assert pool.retired_in_flight() == 0
    pooled = {k.removeprefix("https://").rsplit(":", 1)[0] for k in pool.pooled_keys()}
    # Every socket still open belongs to a pooled transport: the evicted ones were closed.
    assert eventually(lambda: set(server.open_names()) <= pooled), (server.open_names(), pooled)
    pool.close()
    assert eventually(lambda: server.open_names() == []), server.open_names()
    guarded.close()
    outbound.close()


# -- the container shares one pool -------------------------------------------------------------


@pytest.mark.parametrize("client_name", ["http", "outbound", "delivery_client"])
def test_every_outbound_client_of_the_container_draws_from_its_pool(settings, client_name):
    server = PoolServer(tls=None)
    hostport = f"127.0.0.1:{server.port}"
    container = Container(
        settings.model_copy(update={"egress_allowlist": hostport, "outbound_max_host_pools": 5})
    )
    try:
        pool = container.host_transports
        assert (pool.max_hosts, pool.pooled_keys()) == (5, [])
        client = getattr(container, client_name)
        if isinstance(client, httpx.Client):
            assert client.get(f"http://{hostport}/").text == "127.0.0.1"
        else:
            assert client.request("GET", f"http://{hostport}/").content == b"127.0.0.1"
        assert pool.pooled_keys() == ["http"]
        assert server.open_names() == ["plain"]
        container.close()
        assert pool.pooled_keys() == []
        assert eventually(lambda: server.open_names() == []), server.open_names()
    finally:
        container.close()
        server.close()


def test_the_pool_size_is_a_setting():
    assert Settings.from_env({}).outbound_max_host_pools == DEFAULT_MAX_HOSTS == 32
    chosen = Settings.from_env({"TETHER_OUTBOUND_MAX_HOST_POOLS": "5"})
    assert chosen.outbound_max_host_pools == 5
    with pytest.raises(ConfigurationError, match="TETHER_OUTBOUND_MAX_HOST_POOLS"):
        Settings.from_env({"TETHER_OUTBOUND_MAX_HOST_POOLS": "0"})
    with pytest.raises(ValueError, match="at least 1"):
        HostTransports(max_hosts=0)

"""The bounded pool of per-host transports behind every guarded outbound request.

Both ways out (:class:`~tether.http.client.OutboundClient` and
:class:`~tether.http.guarded_transport.GuardedTransport`) send a request whose URL names the
*checked IP*, with ``Host`` and the ``sni_hostname`` extension carrying the real name. httpcore
pools connections by the URL's origin, so on one transport a TLS connection verified for
``a.example`` would be reused for ``b.example`` if both resolve to the same address. Each https
``host:port`` therefore gets a transport of its own; plain http (no certificate bound to a
connection) shares one.

The transports live in one LRU of at most ``max_hosts`` entries, shared by every client of a
container. Eviction never breaks a response in flight: every request holds a *lease* on its
transport from ``handle_request`` until its response is closed (the response's stream
releases it), and an evicted transport is closed, with its sockets, only when its last lease
is released. While responses are in flight the evicted transports they hold exist beside the
``max_hosts`` in the LRU; nothing else grows. Every caller closes its responses (in a
``finally``); as a safety net a body closes itself, giving its connection and lease back, once
its iteration ends: read to the end, failed mid-stream, or abandoned (the iterator dropped or
closed) by a caller that then forgets to close the response.

Why hand-written: httpx has no pool of transports, and httpcore's one connection pool keys
connections by the URL origin (here, the address). The way to a single httpcore pool keyed by
name would be a custom network backend that connects to the pinned address, but its
``connect_tcp`` is told only the name and port: the vetted address would have to reach it
through thread-local state, relying on which thread httpcore happens to connect from. This
module keeps httpx's transports and httpcore's pools as they are and only chooses among them.
One ``ssl.SSLContext`` (httpx's default verification) is built once and shared by every
transport instead of loading the CA bundle per host.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from tether.http.guard import Target

__all__ = ["DEFAULT_MAX_HOSTS", "HostTransports", "TransportFactory", "pool_key"]

DEFAULT_MAX_HOSTS = 32

TransportFactory = Callable[[], httpx.BaseTransport]


def pool_key(target: Target) -> str:
    """Which transport serves ``target``: one per https ``host:port``, one for plain http."""
    return f"https://{target.host}:{target.port}" if target.scheme == "https" else "http"


@dataclass(eq=False)
class _Entry:
    transport: httpx.BaseTransport
    leases: int = 0
    retired: bool = False


class HostTransports:
    """Per-host transports in a bounded LRU; see the module documentation.

    ``factory`` makes one transport (default: an ``httpx.HTTPTransport`` without retries,
    verifying TLS with a context shared by all of them); tests pass one that trusts their own
    certificate authority.
    """

    def __init__(
        self, *, max_hosts: int = DEFAULT_MAX_HOSTS, factory: TransportFactory | None = None
    ) -> None:
        if max_hosts < 1:
            raise ValueError("max_hosts must be at least 1")
        self._max_hosts = max_hosts
        self._factory = factory or self._default_transport
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._retired_in_flight: set[_Entry] = set()  # evicted, still leased
        self._ssl_lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None
        self._closed = False

    def _default_transport(self) -> httpx.BaseTransport:
        with self._ssl_lock:
            if self._ssl_context is None:
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        return httpx.HTTPTransport(verify=context, retries=0)

    @property
    def max_hosts(self) -> int:
        return self._max_hosts

    def pooled_keys(self) -> list[str]:
        """The pooled keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def retired_in_flight(self) -> int:
        """How many evicted transports still wait for their responses to be closed."""
        with self._lock:
            return len(self._retired_in_flight)

    def handle_request(self, target: Target, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (already addressed to ``target.ip``) on ``target``'s transport.

        The returned response holds a lease on that transport until it is closed."""
        entry = self._acquire(pool_key(target))
        response: httpx.Response | None = None
        try:
            response = entry.transport.handle_request(request)
            stream = response.stream
            if not isinstance(stream, httpx.SyncByteStream):
                raise TypeError("an outbound transport answered with an async body")
            return httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=_LeasedStream(stream, lambda: self._release(entry)),
                extensions=response.extensions,
            )
        except BaseException:
            try:
                if response is not None:
                    response.close()  # its connection goes back to the transport's pool
            finally:
                self._release(entry)
            raise

    def close(self) -> None:
        """Close every idle transport now, and each leased one when its last lease ends."""
        with self._lock:
            self._closed = True
            entries = list(self._entries.values())
            self._entries.clear()
            idle = [e for e in entries if not self._retire(e)]
        for entry in idle:
            entry.transport.close()

    # -- leases ----------------------------------------------------------------------------

    def _acquire(self, key: str) -> _Entry:
        with self._lock:
            if self._closed:
                raise RuntimeError("the outbound transports are closed")
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(self._factory())  # cheap: no socket until a request
                self._entries[key] = entry
            self._entries.move_to_end(key)
            entry.leases += 1
            evicted: list[_Entry] = []
            while len(self._entries) > self._max_hosts:
                _oldest_key, oldest = self._entries.popitem(last=False)
                if not self._retire(oldest):
                    evicted.append(oldest)
        for old in evicted:
            old.transport.close()
        return entry

    def _retire(self, entry: _Entry) -> bool:
        """Mark ``entry`` evicted (lock held); ``True`` if a lease still holds it open."""
        entry.retired = True
        if entry.leases > 0:
            self._retired_in_flight.add(entry)
            return True
        return False

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.leases -= 1
            done = entry.retired and entry.leases == 0
            if done:
                self._retired_in_flight.discard(entry)
        if done:
            entry.transport.close()


class _LeasedStream(httpx.SyncByteStream):
    """A response body that gives its transport lease back when it is closed (once), and
    closes itself when its iteration ends, however it ends (see the module documentation)."""

    def __init__(self, inner: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        finally:
            self.close()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            with self._lock:
                release, self._release = self._release, None
            if release is not None:
                release()

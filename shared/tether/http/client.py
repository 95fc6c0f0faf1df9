"""The one outbound HTTP client: every call to a provider or to a user-configured URL.

What it adds to httpx, and why each piece lives here rather than in callers:

* **SSRF guard on every hop.** Each attempt and each redirect hop is checked by
  :class:`~tether.http.guard.EgressGuard`, and the request goes to the *checked IP* (the URL
  host replaced by the address, ``Host`` set to the real name, and for https the
  ``sni_hostname`` request extension so TLS SNI and certificate verification use the real
  name). There is no second DNS lookup to race. httpx never follows redirects by itself.
* **No ambient state.** Requests go straight to the transport, not through ``httpx.Client``:
  no cookie jar shared between tenants, no proxy or ``.netrc`` from the environment, and no
  httpx INFO log line carrying a full URL with an API key in its query.
* **Time and size bounds.** Per-attempt connect/read timeouts, a total deadline across
  retries, redirects and rate-limit waits, and a cap on the (decoded) response body.
* **Retries.** Exponential backoff with full jitter on network failures, 429 and
  502/503/504, for idempotent methods (any method when the failure happened before the
  request could be sent, or with ``retry_unsafe``); ``Retry-After`` and provider rate-limit
  headers are honoured. After the retries a 429/5xx is *returned*: it is an answer.
* **Auth.** ``auth.apply`` before every attempt, one ``refresh`` + retry on 401, and never
  credentials to another origin after a redirect.
* **Redaction.** Credential values (raw and URL-encoded) are masked in the returned URL,
  error messages and log lines, and registered with :func:`tether.logs.register_secret`.

For https the default transports are kept per ``host:port``: a pooled TLS connection was
verified for one name and must not carry a request for another name that happens to resolve
to the same address.
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import re
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from tether.domain.decimal_digits import parse_decimal
from tether.http.guard import EgressGuard, Target
from tether.http.model import (
    OutboundError,
    OutboundFailure,
    OutboundResponse,
    RateSpec,
    RequestAuth,
)
from tether.http.origin import origin_of
from tether.http.rate_limit import LocalRateLimiter, RateLimiter
from tether.http.redact import REDACTED, Redactor

__all__ = ["OutboundClient"]

log = logging.getLogger("tether.outbound")

ParamValue = str | int | float | bool

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_CROSS_ORIGIN_DROP = frozenset({"authorization", "proxy-authorization", "cookie"})
_BODY_HEADERS = frozenset({"content-type", "content-length", "transfer-encoding"})
_DEFAULT_HEADERS = {
    "User-Agent": "tether-outbound/1",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
_MAX_HTTPS_POOLS = 32
_CHUNK = 64 * 1024


class _AttemptFailed(Exception):
    """One attempt produced no response. ``sent``: the request may have reached the server."""

    def __init__(
        self, message: str, failure: OutboundFailure, *, retryable: bool, sent: bool
    ) -> None:
        super().__init__(message)
        self.message = message
        self.failure: OutboundFailure = failure
        self.retryable = retryable
        self.sent = sent


@dataclass
class _Received:
    status: int
    headers: httpx.Headers
    content: bytes


@dataclass
class _Pool:
    transport: httpx.BaseTransport
    users: int = 0
    retired: bool = False


class _Transports:
    """The injected transport, or default transports: one for http, one per https origin."""

    def __init__(self, injected: httpx.BaseTransport | None) -> None:
        self._injected = injected
        self._lock = threading.Lock()
        self._pools: OrderedDict[str, _Pool] = OrderedDict()

    @contextmanager
    def lease(self, target: Target) -> Iterator[httpx.BaseTransport]:
        if self._injected is not None:
            yield self._injected
            return
        key = f"https://{target.host}:{target.port}" if target.scheme == "https" else "http"
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(httpx.HTTPTransport(retries=0))
            self._pools.move_to_end(key)
            pool.users += 1
            to_close = self._evict()
        self._close_all(to_close)
        try:
            yield pool.transport
        finally:
            with self._lock:
                pool.users -= 1
                done = pool.retired and pool.users == 0
            if done:
                self._close_all([pool])

    def _evict(self) -> list[_Pool]:
        closing: list[_Pool] = []
        while len(self._pools) > _MAX_HTTPS_POOLS + 1:
            _key, oldest = self._pools.popitem(last=False)
            oldest.retired = True
            if oldest.users == 0:
                closing.append(oldest)
        return closing

    @staticmethod
    def _close_all(pools: list[_Pool]) -> None:
        for pool in pools:
            pool.transport.close()

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
            for pool in pools:
                pool.retired = True
        self._close_all([p for p in pools if p.users == 0])


class OutboundClient:
    """Sends outbound HTTP requests safely; see the module documentation.

    ``transport`` is for tests (and the default is a real one); ``sleep``, ``monotonic``,
    ``random`` and ``wall_clock`` are injectable so waits and jitter can be observed.
    """

    def __init__(
        self,
        guard: EgressGuard,
        *,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        total_timeout: float = 30.0,
        max_response_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 20.0,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._guard = guard
        self._transports = _Transports(transport)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._limiter: RateLimiter = rate_limiter or LocalRateLimiter(monotonic=monotonic)
        self._sleep = sleep
        self._monotonic = monotonic
        self._random = random
        self._wall_clock = wall_clock
        self._blocked_lock = threading.Lock()
        self._blocked_until: dict[str, float] = {}  # rate key -> monotonic time

    def close(self) -> None:
        """Close the default transports (an injected transport belongs to the caller)."""
        self._transports.close()

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the request loop ------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, ParamValue] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        auth: RequestAuth | None = None,
        rate_key: str | None = None,
        rate: RateSpec | None = None,
        retry_unsafe: bool = False,
        timeout: float | None = None,
        rate_limit_headers: Mapping[str, str] | None = None,
        auth_origins: Collection[str] | None = None,
    ) -> OutboundResponse:
        """Send one logical request (following redirects, retrying as described in the module
        documentation) and return its final response, whatever its status. Raises
        :class:`OutboundError` when there is no usable response.

        ``auth_origins`` binds ``auth`` to its destination (``scheme://host:port`` strings,
        :func:`tether.http.origin.origin_of`): a request to another origin is refused
        before anything is sent (code ``CREDENTIALS_NOT_BOUND``), and a redirect to one
        continues without the credentials."""
        if json is not None and content is not None:
            raise ValueError("pass json or content, not both")
        started = self._monotonic()
        call = _Call(
            method=method.upper(),
            url=url,
            headers=_merge_headers(_DEFAULT_HEADERS, headers or {}),
            params={k: _param(v) for k, v in (params or {}).items()},
            body=({"json": json} if json is not None else {})
            | ({"content": content} if content is not None else {}),
            auth=auth,
            redactor=Redactor(auth.secrets() if auth is not None else ()),
            deadline=started + (self._total_timeout if timeout is None else timeout),
            rate_key=rate_key,
            rate=rate,
            retry_unsafe=retry_unsafe,
            rate_limit_headers=rate_limit_headers,
            auth_origins=None if auth_origins is None else frozenset(auth_origins),
        )
        try:
            response = self._run(call, started)
        except OutboundError as exc:
            exc.message = call.redactor(exc.message)
            exc.args = (exc.message,)
            self._log(call, started, status=None, failure=exc.failure)
            raise
        self._log(call, started, status=response.status, failure=None)
        return response

    def _run(self, call: _Call, started: float) -> OutboundResponse:
        while True:
            target = self._guard.check(call.url)
            call.host = target.host
            if call.origin is None:
                call.origin = _origin(target)
            if call.auth_active and not call.may_authenticate(target):
                if call.hops == 0:
                    raise OutboundError(
                        f"this connection's credentials are not sent to {target.host}: it is "
                        "not part of the connection's destination",
                        failure="blocked",
                        retryable=False,
                        code="CREDENTIALS_NOT_BOUND",
                    )
                self._leave_origin(call)
            block_key = call.rate_key or f"host:{target.host}"
            self._wait_turn(call, block_key, target)

            send_headers = dict(call.headers)
            send_params = dict(call.params)
            if call.auth is not None and call.auth_active:
                before = dict(send_params)
                call.auth.apply(send_headers, send_params)
                call.auth_params |= {k for k, v in send_params.items() if before.get(k) != v}
                call.redactor.add(call.auth.secrets())
                send_headers = _merge_headers({}, send_headers)
            send_headers = {k: v for k, v in send_headers.items() if k.lower() != "host"}
            send_headers["Host"] = target.host_header

            call.attempts += 1
            try:
                received = self._send(call, target, send_headers, send_params)
            except _AttemptFailed as failed:
                delay = self._network_retry_delay(call, failed)
                if delay is None:
                    raise OutboundError(
                        failed.message, failure=failed.failure, retryable=failed.retryable
                    ) from None
                self._sleep(delay)
                call.retries += 1
                continue

            self._note_provider_limits(call, block_key, received.headers)

            if (
                received.status == 401
                and call.auth is not None
                and call.auth_active
                and not call.refreshed
            ):
                call.refreshed = True
                if call.auth.refresh():
                    call.redactor.add(call.auth.secrets())
                    continue

            location = received.headers.get("location")
            if received.status in _REDIRECTS and location:
                self._follow(call, target, received.status, location)
                continue

            if received.status in _RETRY_STATUSES:
                delay = self._response_retry_delay(call, block_key, received.headers)
                if delay is not None:
                    self._sleep(delay)
                    call.retries += 1
                    continue

            return OutboundResponse(
                status=received.status,
                headers=received.headers,
                content=received.content,
                url=self._display_url(call, target, send_params),
                elapsed_ms=int((self._monotonic() - started) * 1000),
                attempts=call.attempts,
            )

    # -- one attempt -----------------------------------------------------------------------

    def _send(
        self,
        call: _Call,
        target: Target,
        headers: dict[str, str],
        params: dict[str, str],
    ) -> _Received:
        remaining = call.deadline - self._monotonic()
        if remaining <= 0:
            raise _AttemptFailed(
                f"request to {target.host} exceeded its total deadline",
                "timeout",
                retryable=True,
                sent=False,
            )
        connect = min(self._connect_timeout, remaining)
        read = min(self._read_timeout, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        try:
            url = httpx.URL(target.connect_url)
            if params:  # merged into the query (httpx.Request(params=...) would replace it)
                url = url.copy_merge_params(params)
            request = httpx.Request(
                call.method, url, headers=headers, extensions=extensions, **call.body
            )
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            raise _AttemptFailed(
                f"request to {target.host} could not be built ({type(exc).__name__})",
                "invalid_url",
                retryable=False,
                sent=False,
            ) from None
        with self._transports.lease(target) as transport:
            try:
                response = transport.handle_request(request)
            except httpx.HTTPError as exc:
                raise _classify(exc, target.host) from None
            response.request = request
            try:
                content = self._read_body(call, target, response)
            finally:
                response.close()
        return _Received(status=response.status_code, headers=response.headers, content=content)

    def _read_body(self, call: _Call, target: Target, response: httpx.Response) -> bytes:
        declared = parse_decimal(response.headers.get("content-length", "").strip())
        has_body = call.method != "HEAD" and response.status_code not in (204, 304)
        if has_body and declared is not None and declared > self._max_bytes:
            raise self._too_large(target)
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes(_CHUNK):
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._too_large(target)
                chunks.append(chunk)
                if self._monotonic() > call.deadline:
                    raise _AttemptFailed(
                        f"response from {target.host} exceeded the total deadline",
                        "timeout",
                        retryable=True,
                        sent=True,
                    )
        except httpx.HTTPError as exc:
            raise _classify(exc, target.host, sent=True) from None
        return b"".join(chunks)

    def _too_large(self, target: Target) -> _AttemptFailed:
        return _AttemptFailed(
            f"response from {target.host} exceeded {self._max_bytes} bytes",
            "too_large",
            retryable=False,
            sent=True,
        )

    # -- redirects -------------------------------------------------------------------------

    def _follow(self, call: _Call, target: Target, status: int, location: str) -> None:
        call.hops += 1
        if call.hops > self._max_redirects:
            raise OutboundError(
                f"more than {self._max_redirects} redirects starting at {target.host}",
                failure="too_many_redirects",
                retryable=False,
            )
        next_url = urljoin(target.url, location.strip())
        next_url = urlunsplit(urlsplit(next_url)._replace(fragment=""))
        if (status == 303 and call.method != "HEAD") or (
            status in (301, 302) and call.method == "POST"
        ):
            call.method = "GET"
            call.body = {}
            call.headers = {k: v for k, v in call.headers.items() if k.lower() not in _BODY_HEADERS}
        # The query of the original request is part of the URL being redirected from; the
        # Location is the complete next URL.
        call.params = {}
        next_target_origin = _url_origin(next_url)
        assert call.origin is not None
        if next_target_origin is None or not _same_origin(call.origin, next_target_origin):
            self._leave_origin(call)
            next_url = self._strip_credentials_from_query(call, next_url)
        call.url = next_url

    def _leave_origin(self, call: _Call) -> None:
        """Redirected to another origin: no auth and no credential-bearing header from now."""
        call.auth_active = False
        call.headers = {
            k: v
            for k, v in call.headers.items()
            if k.lower() not in _CROSS_ORIGIN_DROP and not call.redactor.contains(v)
        }

    @staticmethod
    def _strip_credentials_from_query(call: _Call, url: str) -> str:
        parts = urlsplit(url)
        if not parts.query:
            return url
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        kept = [
            (k, v) for k, v in pairs if k not in call.auth_params and not call.redactor.contains(v)
        ]
        if len(kept) == len(pairs):
            return url
        return urlunsplit(parts._replace(query=urlencode(kept)))

    # -- waiting ---------------------------------------------------------------------------

    def _wait_turn(self, call: _Call, block_key: str, target: Target) -> None:
        """Wait out a provider's "remaining 0" block and the proactive rate limit."""
        while True:
            now = self._monotonic()
            with self._blocked_lock:
                wait = self._blocked_until.get(block_key, 0.0) - now
            if wait <= 0:
                if call.rate_key is None:
                    return
                wait = self._limiter.acquire(call.rate_key, call.rate or RateSpec())
                if wait <= 0:
                    return
            if now + wait > call.deadline:
                raise OutboundError(
                    f"rate limit for {target.host} leaves no room before the deadline",
                    failure="rate_limited",
                    retryable=True,
                )
            self._sleep(wait)

    def _backoff(self, retries: int) -> float:
        ceiling = min(self._backoff_max, self._backoff_base * (2.0**retries))
        return self._random() * ceiling

    def _network_retry_delay(self, call: _Call, failed: _AttemptFailed) -> float | None:
        if not failed.retryable or call.retries >= self._max_retries:
            return None
        if failed.sent and not call.may_resend:
            return None
        delay = self._backoff(call.retries)
        if self._monotonic() + delay >= call.deadline:
            return None
        return delay

    def _response_retry_delay(
        self, call: _Call, block_key: str, headers: httpx.Headers
    ) -> float | None:
        if not call.may_resend or call.retries >= self._max_retries:
            return None
        asked = _retry_after(headers.get("retry-after"), self._wall_clock)
        delay = self._backoff(call.retries) if asked is None else asked
        with self._blocked_lock:
            blocked = self._blocked_until.get(block_key, 0.0) - self._monotonic()
        delay = max(delay, blocked)
        # A server asking for a longer pause than we would ever back off gets its answer
        # back rather than a request it already said it would refuse.
        if delay > self._backoff_max or self._monotonic() + delay >= call.deadline:
            return None
        return delay

    def _note_provider_limits(self, call: _Call, block_key: str, headers: httpx.Headers) -> None:
        names = call.rate_limit_headers
        if not names:
            return
        remaining = _number(headers.get(names.get("remaining", "")))
        if remaining is None or remaining > 0:
            return
        reset = _number(headers.get(names.get("reset", "")))
        if reset is None:
            return
        wait = _reset_delay(reset, self._wall_clock())
        if wait <= 0:
            return
        until = self._monotonic() + wait
        with self._blocked_lock:
            self._blocked_until[block_key] = max(self._blocked_until.get(block_key, 0.0), until)

    # -- reporting -------------------------------------------------------------------------

    def _display_url(self, call: _Call, target: Target, params: dict[str, str]) -> str:
        url = target.url
        if params:
            url = str(httpx.URL(url).copy_merge_params(params))
        for name in call.auth_params:
            url = re.sub(rf"([?&]{re.escape(name)}=)[^&#]*", rf"\g<1>{REDACTED}", url)
        return call.redactor(url)

    def _log(self, call: _Call, started: float, *, status: int | None, failure: str | None) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        elapsed_ms = int((self._monotonic() - started) * 1000)
        outcome = str(status) if status is not None else f"failed ({failure})"
        log.debug(
            call.redactor(
                f"outbound {call.method} {call.host} -> {outcome}"
                f" attempts={call.attempts} elapsed_ms={elapsed_ms}"
            ),
            extra={
                "outbound": {
                    "method": call.method,
                    "host": call.host,
                    "status": status,
                    "failure": failure,
                    "attempts": call.attempts,
                    "elapsed_ms": elapsed_ms,
                }
            },
        )


@dataclass
class _Call:
    """The state of one logical request across attempts and redirect hops."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    body: dict[str, Any]
    auth: RequestAuth | None
    redactor: Redactor
    deadline: float
    rate_key: str | None
    rate: RateSpec | None
    retry_unsafe: bool
    rate_limit_headers: Mapping[str, str] | None
    auth_origins: frozenset[str] | None = None
    host: str = "-"
    origin: tuple[str, str, int] | None = None
    auth_active: bool = True
    auth_params: frozenset[str] = frozenset()
    refreshed: bool = False
    attempts: int = 0
    retries: int = 0
    hops: int = 0

    @property
    def may_resend(self) -> bool:
        return self.retry_unsafe or self.method in _IDEMPOTENT

    def may_authenticate(self, target: Target) -> bool:
        """Whether ``auth`` may be attached for ``target`` (always, when it is not bound)."""
        if self.auth is None or self.auth_origins is None:
            return True
        return origin_of(target.url) in self.auth_origins


# -- helpers -------------------------------------------------------------------------------


def _param(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _merge_headers(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """``base`` updated with ``extra``, names compared case-insensitively (last one wins)."""
    merged: dict[str, tuple[str, str]] = {}
    for source in (base, extra):
        for name, value in source.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def _origin(target: Target) -> tuple[str, str, int]:
    return (target.scheme, target.host, target.port)


def _url_origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    except ValueError:
        return None
    return (scheme, (parts.hostname or "").lower(), port)


def _same_origin(current: tuple[str, str, int], following: tuple[str, str, int]) -> bool:
    if current == following:
        return True
    upgrade = (current[0], following[0]) == ("http", "https")
    return upgrade and current[1] == following[1] and (current[2], following[2]) == (80, 443)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # no NaN/inf


def _retry_after(text: str | None, wall_clock: Callable[[], float]) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not text:
        return None
    text = text.strip()
    seconds = parse_decimal(text)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - wall_clock())


def _reset_delay(reset: float, now: float) -> float:
    """A rate-limit reset header as seconds from now. Providers send epoch seconds (GitHub),
    epoch milliseconds, or seconds to wait (others): values that only make sense as a time
    since 2001 are taken as such."""
    if reset >= 1e12:
        return max(0.0, reset / 1000.0 - now)
    if reset >= 1e9:
        return max(0.0, reset - now)
    return max(0.0, reset)


def _ssl_reason(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return str(getattr(current, "reason", None) or "SSL error")
        current = current.__cause__ or current.__context__
    text = str(exc).lower()
    if "certificate" in text or "ssl" in text or "tls" in text:
        return "certificate or handshake error"
    return None


def _classify(exc: httpx.HTTPError, host: str, *, sent: bool = False) -> _AttemptFailed:
    """Map an httpx exception to a failure kind (messages name the host only)."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return _AttemptFailed(
            f"connecting to {host} timed out", "timeout", retryable=True, sent=False
        )
    if isinstance(exc, httpx.TimeoutException):
        return _AttemptFailed(f"request to {host} timed out", "timeout", retryable=True, sent=True)
    if isinstance(exc, httpx.ConnectError):
        reason = _ssl_reason(exc)
        if reason is not None:
            return _AttemptFailed(
                f"TLS with {host} failed: {reason}", "tls", retryable=False, sent=False
            )
        return _AttemptFailed(f"could not connect to {host}", "connect", retryable=True, sent=False)
    if isinstance(exc, httpx.RemoteProtocolError):
        if "disconnected" in str(exc).lower():
            return _AttemptFailed(
                f"{host} closed the connection without a response",
                "connect",
                retryable=True,
                sent=True,
            )
        return _AttemptFailed(
            f"{host} broke the HTTP protocol", "protocol", retryable=False, sent=True
        )
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.CloseError):
        return _AttemptFailed(
            f"connection to {host} failed mid-request", "connect", retryable=True, sent=True
        )
    if isinstance(exc, httpx.DecodingError | httpx.ProtocolError):
        return _AttemptFailed(
            f"{host} sent a response that could not be read", "protocol", retryable=False, sent=True
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return _AttemptFailed(
            f"request to {host} has an invalid URL", "invalid_url", retryable=False, sent=False
        )
    return _AttemptFailed(
        f"request to {host} failed ({type(exc).__name__})", "connect", retryable=True, sent=sent
    )

"""The one outbound HTTP client: every call to a provider or to a user-configured URL.

What it adds to httpx, and why each piece lives here rather than in callers:

* **SSRF guard on every hop.** Each attempt and each redirect hop is checked by
  :class:`~tether.http.guard.EgressGuard`, and the request goes to the *checked IP* (the URL
  host replaced by the address, ``Host`` set to the real name, and for https the
  ``sni_hostname`` request extension so TLS SNI and certificate verification use the real
  name). There is no second DNS lookup to race. httpx never follows redirects by itself
  (:mod:`tether.http.redirects` does, hop by hop).
* **No ambient state.** Requests go straight to a transport, not through ``httpx.Client``:
  no cookie jar shared between tenants, no proxy or ``.netrc`` from the environment, and no
  httpx INFO log line carrying a full URL with an API key in its query.
* **Time and size bounds.** Per-attempt connect/read timeouts, a total deadline across
  retries, redirects and rate-limit waits, and a cap on the (decoded) response body, decoded
  a bounded piece at a time (:mod:`tether.http.content_decoding`) so a compression bomb stops
  at the cap.
* **Retries** (:mod:`tether.http.retry_policy`) on network failures, 429 and 502/503/504;
  ``Retry-After`` and provider rate-limit headers (:mod:`tether.http.provider_limits`) are
  honoured. After the retries a 429/5xx is *returned*: it is an answer.
* **Auth** (:mod:`tether.http.credential_binding`): ``auth.apply`` before every attempt, one
  ``refresh`` + retry on 401, credentials only to the origins they are bound to, and never
  to another origin after a redirect.
* **Redaction.** Credential values (raw and URL-encoded) are masked in the returned URL,
  error messages and log lines, and registered with :func:`tether.logs.register_secret`.

Connections come from :class:`~tether.http.host_transports.HostTransports`, the bounded pool
of per-host transports (one per https origin: a pooled TLS connection was verified for one
name and must not carry a request for another name that resolves to the same address).
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tether.domain.decimal_digits import parse_decimal
from tether.http.attempt_failure import AttemptFailed, classify
from tether.http.content_decoding import decoded_body
from tether.http.credential_binding import (
    attempt_headers_and_params,
    check_binding,
    display_url,
)
from tether.http.guard import EgressGuard, Target
from tether.http.host_transports import HostTransports
from tether.http.model import OutboundError, OutboundResponse, RateSpec, RequestAuth
from tether.http.outbound_call import OutboundCall, ParamValue, merge_headers, param_text
from tether.http.provider_limits import ProviderBlocks
from tether.http.rate_limit import LocalRateLimiter, RateLimiter
from tether.http.redact import Redactor
from tether.http.redirects import REDIRECT_STATUSES, follow_redirect, origin_tuple
from tether.http.retry_policy import RETRY_STATUSES, RetryPolicy

__all__ = ["OutboundClient"]

log = logging.getLogger("tether.outbound")

_DEFAULT_HEADERS = {
    "User-Agent": "tether-outbound/1",
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate",
}
_CHUNK = 64 * 1024


@dataclass
class _Received:
    status: int
    headers: httpx.Headers
    content: bytes
    # The URL requested on the wire (by address, query merged): the display URL's source.
    url: httpx.URL


def _wire_url(target: Target, params: Mapping[str, str]) -> httpx.URL:
    """``target``'s URL by address with ``params`` merged into its query (replacing the
    values of names it already has; ``httpx.Request(params=...)`` would replace the whole
    query), parsed once when the URL has no query of its own."""
    if not params:
        return httpx.URL(target.connect_url)
    if "?" not in target.path_and_query:
        return httpx.URL(target.connect_url, params=params)
    return httpx.URL(target.connect_url).copy_merge_params(params)


class OutboundClient:
    """Sends outbound HTTP requests safely; see the module documentation.

    ``transport`` is for tests: one transport for every request, bypassing the pool.
    ``transports`` is a pool shared with other clients (its owner closes it); without either,
    the client keeps a pool of its own. ``sleep``, ``monotonic``, ``random`` and
    ``wall_clock`` are injectable so waits and jitter can be observed.
    """

    def __init__(
        self,
        guard: EgressGuard,
        *,
        transport: httpx.BaseTransport | None = None,
        transports: HostTransports | None = None,
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
        if transport is not None and transports is not None:
            raise ValueError("pass transport or transports, not both")
        self._guard = guard
        self._injected = transport
        self._owns_transports = transports is None
        self._transports = transports or HostTransports()  # no transport until a request
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._max_bytes = max_response_bytes
        self._max_redirects = max_redirects
        self._retry = RetryPolicy(
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            random=random,
            wall_clock=wall_clock,
        )
        self._limiter: RateLimiter = rate_limiter or LocalRateLimiter(monotonic=monotonic)
        self._blocks = ProviderBlocks(monotonic=monotonic, wall_clock=wall_clock)
        self._sleep = sleep
        self._monotonic = monotonic

    def close(self) -> None:
        """Close the client's own transports (an injected transport or a shared pool belongs
        to whoever passed it)."""
        if self._owns_transports:
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
        call = OutboundCall(
            method=method.upper(),
            url=url,
            headers=merge_headers(_DEFAULT_HEADERS, headers or {}),
            params={k: param_text(v) for k, v in (params or {}).items()},
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

    def _run(self, call: OutboundCall, started: float) -> OutboundResponse:
        while True:
            target = self._guard.check(call.url)
            call.host = target.host
            if call.origin is None:
                call.origin = origin_tuple(target)
            check_binding(call, target)
            block_key = call.rate_key or f"host:{target.host}"
            self._wait_turn(call, block_key, target)
            send_headers, send_params = attempt_headers_and_params(call, target)

            call.attempts += 1
            try:
                received = self._send(call, target, send_headers, send_params)
            except AttemptFailed as failed:
                delay = self._retry.after_failure(call, failed, self._monotonic())
                if delay is None:
                    raise OutboundError(
                        failed.message, failure=failed.failure, retryable=failed.retryable
                    ) from None
                self._sleep(delay)
                call.retries += 1
                continue

            self._blocks.note(block_key, call.rate_limit_headers, received.headers)

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
            if received.status in REDIRECT_STATUSES and location:
                follow_redirect(
                    call, target, received.status, location, max_redirects=self._max_redirects
                )
                continue

            if received.status in RETRY_STATUSES:
                now = self._monotonic()
                delay = self._retry.after_response(
                    call, received.headers, now, blocked=self._blocks.remaining(block_key, now)
                )
                if delay is not None:
                    self._sleep(delay)
                    call.retries += 1
                    continue

            return OutboundResponse(
                status=received.status,
                headers=received.headers,
                content=received.content,
                url=display_url(call, target, received.url),
                elapsed_ms=int((self._monotonic() - started) * 1000),
                attempts=call.attempts,
            )

    # -- one attempt -----------------------------------------------------------------------

    def _send(
        self,
        call: OutboundCall,
        target: Target,
        headers: dict[str, str],
        params: dict[str, str],
    ) -> _Received:
        remaining = call.deadline - self._monotonic()
        if remaining <= 0:
            raise AttemptFailed(
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
            url = _wire_url(target, params)
            request = httpx.Request(
                call.method, url, headers=headers, extensions=extensions, **call.body
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, TypeError) as exc:
            raise AttemptFailed(
                f"request to {target.host} could not be built ({type(exc).__name__})",
                "invalid_url",
                retryable=False,
                sent=False,
            ) from None
        try:
            response = self._handle(target, request)
        except httpx.HTTPError as exc:
            raise classify(exc, target.host) from None
        response.request = request
        try:
            content = self._read_body(call, target, response)
        finally:
            response.close()
        return _Received(
            status=response.status_code, headers=response.headers, content=content, url=url
        )

    def _handle(self, target: Target, request: httpx.Request) -> httpx.Response:
        if self._injected is not None:
            return self._injected.handle_request(request)
        return self._transports.handle_request(target, request)

    def _read_body(self, call: OutboundCall, target: Target, response: httpx.Response) -> bytes:
        declared = parse_decimal(response.headers.get("content-length", "").strip())
        has_body = call.method != "HEAD" and response.status_code not in (204, 304)
        if has_body and declared is not None and declared > self._max_bytes:
            raise self._too_large(target)
        chunks: list[bytes] = []
        size = 0
        try:
            encoding = response.headers.get("content-encoding", "")
            for chunk in decoded_body(response.iter_raw(_CHUNK), encoding, piece=_CHUNK):
                size += len(chunk)
                if size > self._max_bytes:
                    raise self._too_large(target)
                chunks.append(chunk)
                if self._monotonic() > call.deadline:
                    raise AttemptFailed(
                        f"response from {target.host} exceeded the total deadline",
                        "timeout",
                        retryable=True,
                        sent=True,
                    )
        except httpx.HTTPError as exc:
            raise classify(exc, target.host, sent=True) from None
        return b"".join(chunks)

    def _too_large(self, target: Target) -> AttemptFailed:
        return AttemptFailed(
            f"response from {target.host} exceeded {self._max_bytes} bytes",
            "too_large",
            retryable=False,
            sent=True,
        )

    # -- waiting ---------------------------------------------------------------------------

    def _wait_turn(self, call: OutboundCall, block_key: str, target: Target) -> None:
        """Wait out a provider's "remaining 0" block and the proactive rate limit."""
        while True:
            now = self._monotonic()
            wait = self._blocks.remaining(block_key, now)
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

    # -- reporting -------------------------------------------------------------------------

    def _log(
        self, call: OutboundCall, started: float, *, status: int | None, failure: str | None
    ) -> None:
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

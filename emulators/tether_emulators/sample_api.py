"""A local HTTP API for tests and benchmarks of fetch, pagination and connection tests, served
on loopback from a werkzeug server thread (``start()`` / ``stop()``, or as a context manager).

A dataset of ``items`` records ``{"id": i, "name": "Item i"}`` (i from 1) paginated in every
style fetch knows::

    GET  /cursor/items?cursor=&limit=     {"data": [...], "meta": {"next_cursor": "..."|null}}
    GET  /link/items?page=&per_page=      [...] with Link: first, prev, next, last
    GET  /offset/items?offset=&limit=     {"results": [...], "offset", "limit", "total"}
    GET  /page/items?page=&per_page=      {"items": [...], "page", "per_page", "total"}
    POST /graphql                         {"query": "{ items(first: N, after: ...) ...}",
                                           "variables": {"first": N, "after": "..."}}
                                          -> {"data": {"items": {"edges": [{"node", "cursor"}],
                                              "pageInfo": {"hasNextPage", "endCursor"},
                                              "totalCount"}}}
    GET  /loop/items                      like /cursor/items, next_cursor always "loop"

(The GraphQL endpoint parses no GraphQL: it reads ``first`` and ``after`` from
``variables``.) Page sizes default to ``default_limit`` and are capped at ``max_limit``.

For connection tests and the outbound client::

    ANY  /status/<code>     answers <code> (200..599) with {"status": code}
    GET  /slow?seconds=     answers after sleeping (at most 60 s; stop() ends the sleep)
    GET  /me                a small JSON object
    GET  /big?bytes=&chunked=1   a JSON body of ``bytes`` bytes (default ``big_bytes``), with
                            Content-Length unless chunked
    ANY  /echo              the method, path, query, headers and JSON body it received
    GET  /redirect?hops=n   n redirects, then /me;  /redirect?to=<url>: one redirect to <url>

Levers: ``auth`` (an :class:`AuthRequirement`: bearer, API key header or query parameter,
Basic) makes every endpoint answer 401 without the right credential and 403 for the
``forbidden`` one; ``inject(path_prefix, status=429, times=n, retry_after="1")`` answers the
next ``n`` matching requests with that status first; ``tls=True`` serves HTTPS with a fresh
self-signed certificate (``cert_pem`` / ``ca_file`` to trust it; untrusted, the client fails
its handshake). Every request is recorded (:class:`RecordedRequest`: path, query, headers,
monotonic arrival time) so tests can check what was sent and how fast
(:meth:`SampleApi.max_requests_in`).

Run it in the foreground with ``python -m tether_emulators.sample_api --port 8090``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import logging
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tether_emulators.json_answers import Problem, json_response
from tether_emulators.sample_api_server import self_signed_certificate
from tether_emulators.wsgi_server import ServedEmulator

__all__ = [
    "AuthMode",
    "AuthRequirement",
    "RecordedRequest",
    "SampleApi",
    "decode_item_cursor",
    "encode_item_cursor",
    "item",
    "main",
]

log = logging.getLogger("tether_emulators.sample_api")

AuthMode = Literal["bearer", "api_key_header", "api_key_query", "basic"]
LOOP_CURSOR = "loop"
MAX_RECORDED = 100_000
MAX_ITEMS = 10_000_000
MAX_SLOW_SECONDS = 60.0
MAX_BIG_BYTES = 256 * 1024 * 1024
_BIG_PREFIX = b'{"padding":"'
_BIG_SUFFIX = b'"}'
_CHUNK = 64 * 1024
_RECORDED_BODY_BYTES = 64 * 1024


def item(number: int) -> dict[str, Any]:
    """Record ``number`` of the dataset."""
    return {"id": number, "name": f"Item {number}"}


def encode_item_cursor(after: int) -> str:
    """The opaque cursor that continues after item ``after``."""
    return base64.urlsafe_b64encode(f"after:{after}".encode()).rstrip(b"=").decode()


def decode_item_cursor(cursor: str) -> int:
    """The item a cursor continues after; ``ValueError`` when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "after" or not number.isdigit():
        raise ValueError("not a cursor")
    return int(number)


@dataclass(frozen=True)
class AuthRequirement:
    """The credential every request must carry.

    ``secret`` is the bearer token, the API key or the Basic password; ``username`` the Basic
    user; ``name`` the API key header (default ``X-API-Key``) or query parameter (default
    ``api_key``). A well-formed request carrying ``forbidden`` instead of the secret is
    answered 403; anything else wrong or missing, 401.
    """

    mode: AuthMode
    secret: str = "test-secret"  # noqa: S105 - a throwaway test credential
    username: str = "test-user"
    name: str | None = None
    forbidden: str = "forbidden"

    @property
    def param_name(self) -> str:
        if self.name is not None:
            return self.name
        return "api_key" if self.mode == "api_key_query" else "X-API-Key"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived. ``headers`` have lower-case names; ``at`` is
    :func:`time.monotonic` on arrival; ``status`` what was answered; ``raw_path`` the path
    of the request line, percent-encoding intact (``path`` is decoded)."""

    method: str
    path: str
    query: Mapping[str, str]
    query_string: str
    headers: Mapping[str, str]
    at: float
    status: int
    injected: bool = False
    body: bytes = field(default=b"", repr=False)
    raw_path: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class _Injection:
    path_prefix: str
    status: int
    remaining: int
    retry_after: str | None
    body: str | None
    delay: float


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"error": {"status": status, "message": message}}, status, headers)


class SampleApi(ServedEmulator):
    """The sample API. Settings, injections and records are safe to use from test threads while
    server threads answer requests."""

    _what = "the sample API"
    _thread_name = "test-api"

    def __init__(
        self,
        *,
        items: int = 100,
        auth: AuthRequirement | None = None,
        default_limit: int = 10,
        max_limit: int = 1000,
        relative_links: bool = False,
        big_bytes: int = 2 * 1024 * 1024,
        tls: bool = False,
        tls_hostnames: Sequence[str] = ("localhost", "127.0.0.1"),
        tls_expired: bool = False,
    ) -> None:
        if not 0 <= items <= MAX_ITEMS:
            raise ValueError(f"items must be 0..{MAX_ITEMS}")
        if not 1 <= default_limit <= max_limit:
            raise ValueError("default_limit must be 1..max_limit")
        super().__init__()
        self._lock = threading.Lock()
        self.items = items
        self.auth = auth
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.relative_links = relative_links
        self.big_bytes = big_bytes
        self.tls = tls
        self._tls_hostnames = tuple(tls_hostnames)
        self._tls_expired = tls_expired
        self._cert_pem: bytes | None = None
        self._key_pem: bytes | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._injections: list[_Injection] = []
        self._records: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED)
        self._in_flight = 0
        self._routes: dict[str, Callable[[Request], Response]] = {
            "/cursor/items": self._cursor_items,
            "/link/items": self._link_items,
            "/offset/items": self._offset_items,
            "/page/items": self._page_items,
            "/graphql": self._graphql,
            "/loop/items": self._loop_items,
            "/slow": self._slow,
            "/me": self._me,
            "/big": self._big,
            "/echo": self._echo,
            "/redirect": self._redirect,
        }

    # -- lifecycle ----------------------------------------------------------------------------

    def _wsgi_app(self) -> WSGIApplication:
        return self._wsgi

    def _server_tls(self) -> ssl.SSLContext | None:
        return self._tls_context() if self.tls else None

    def _after_stop(self) -> None:
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def _scheme(self) -> str:
        return "https" if self.tls else "http"

    # -- TLS ----------------------------------------------------------------------------------

    def _ensure_certificate(self) -> tuple[bytes, bytes]:
        if self._cert_pem is None or self._key_pem is None:
            self._cert_pem, self._key_pem = self_signed_certificate(
                self._tls_hostnames, expired=self._tls_expired
            )
        return self._cert_pem, self._key_pem

    def _tls_context(self) -> ssl.SSLContext:
        cert_pem, key_pem = self._ensure_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(prefix="tether-test-api-") as folder:
            cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert_file.write_bytes(cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key_pem)
            context.load_cert_chain(cert_file, key_file)
        return context

    @property
    def cert_pem(self) -> bytes:
        """The self-signed certificate (PEM) HTTPS is served with (made on first use)."""
        return self._ensure_certificate()[0]

    @property
    def ca_file(self) -> str:
        """A file holding :attr:`cert_pem`, for clients that trust it (kept until stop())."""
        if self._tls_dir is None:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="tether-test-api-ca-")
        path = Path(self._tls_dir.name, "ca.pem")
        if not path.exists():
            path.write_bytes(self.cert_pem)
        return str(path)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts :attr:`cert_pem` (and nothing else)."""
        return ssl.create_default_context(cadata=self.cert_pem.decode("ascii"))

    # -- levers -------------------------------------------------------------------------------

    def inject(
        self,
        path_prefix: str,
        *,
        status: int = 503,
        times: int = 1,
        retry_after: str | None = None,
        body: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests whose path starts with ``path_prefix`` with
        ``status`` (after ``delay`` seconds), a ``Retry-After`` header when given and ``body``
        (default: a JSON error). Injections queue up in the order they were made."""
        if not 100 <= status <= 599 or times < 1:
            raise ValueError("status must be 100..599 and times at least 1")
        with self._lock:
            self._injections.append(
                _Injection(path_prefix, status, times, retry_after, body, delay)
            )

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()

    def _take_injection(self, path: str) -> _Injection | None:
        with self._lock:
            for injection in self._injections:
                if path.startswith(injection.path_prefix):
                    injection.remaining -= 1
                    if injection.remaining <= 0:
                        self._injections.remove(injection)
                    return injection
        return None

    # -- records ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far (the last ``MAX_RECORDED``), in arrival order. A
        request is recorded once answered: see :attr:`in_flight` for the others."""
        with self._lock:
            records = list(self._records)
        return sorted(records, key=lambda record: record.at)

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now."""
        with self._lock:
            return self._in_flight

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        return [record for record in self.requests if record.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def max_requests_in(self, window: float, path_prefix: str = "") -> int:
        """The most requests (to ``path_prefix``) that arrived within any ``window`` seconds."""
        times = sorted(record.at for record in self.requests_to(path_prefix))
        most = 0
        first = 0
        for last, at in enumerate(times):
            while at - times[first] >= window:
                first += 1
            most = max(most, last - first + 1)
        return most

    # -- WSGI ---------------------------------------------------------------------------------

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        arrived = time.monotonic()
        with self._lock:
            self._in_flight += 1
        try:
            injection = self._take_injection(request.path)
            try:
                if injection is not None:
                    response = self._injected(injection)
                else:
                    response = self._authenticate(request) or self._dispatch(request)
            except Problem as problem:
                response = _error(problem.status, problem.message)
        finally:
            with self._lock:
                self._in_flight -= 1
        body = request.get_data(cache=True)[:_RECORDED_BODY_BYTES]
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={name: request.args[name] for name in request.args},
            query_string=request.query_string.decode("latin-1"),
            headers={name.lower(): value for name, value in request.headers.items()},
            at=arrived,
            status=response.status_code,
            injected=injection is not None,
            body=body,
            raw_path=str(request.environ.get("REQUEST_URI", "")).split("?", 1)[0],
        )
        with self._lock:
            self._records.append(record)
        return response(environ, start_response)

    def _injected(self, injection: _Injection) -> Response:
        if injection.delay > 0:
            self._stopping.wait(injection.delay)
        headers = {} if injection.retry_after is None else {"Retry-After": injection.retry_after}
        if injection.body is not None:
            response = Response(injection.body, status=injection.status)
            for name, value in headers.items():
                response.headers[name] = value
            return response
        return _error(injection.status, "injected by the test", headers)

    def _authenticate(self, request: Request) -> Response | None:
        auth = self.auth
        if auth is None:
            return None
        presented: str | None = None
        if auth.mode == "bearer":
            scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                presented = token.strip()
        elif auth.mode == "api_key_header":
            presented = request.headers.get(auth.param_name) or None
        elif auth.mode == "api_key_query":
            presented = request.args.get(auth.param_name) or None
        else:
            scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                user, colon, password = decoded.partition(":")
                if colon and hmac.compare_digest(user.encode(), auth.username.encode()):
                    presented = password
        if presented is not None and hmac.compare_digest(presented.encode(), auth.secret.encode()):
            return None
        if presented is not None and hmac.compare_digest(
            presented.encode(), auth.forbidden.encode()
        ):
            return _error(403, "this credential may not use this API")
        challenge = {
            "bearer": 'Bearer realm="test-api"',
            "basic": 'Basic realm="test-api", charset="UTF-8"',
        }.get(auth.mode)
        message = "credentials required" if presented is None else "wrong credentials"
        return _error(401, message, {"WWW-Authenticate": challenge} if challenge else None)

    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/status/"):
            return self._status(path.removeprefix("/status/"))
        handler = self._routes.get(path)
        if handler is None:
            return _error(404, "no such endpoint")
        if path.endswith("/items") or path in {"/me", "/big", "/slow", "/redirect"}:
            if request.method not in {"GET", "HEAD"}:
                return _error(405, "use GET", {"Allow": "GET, HEAD"})
        elif path == "/graphql" and request.method != "POST":
            return _error(405, "use POST", {"Allow": "POST"})
        return handler(request)

    # -- the dataset --------------------------------------------------------------------------

    def _number(self, request: Request, name: str, default: int, minimum: int) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise Problem(400, f"{name} must be a whole number") from None
        if value < minimum:
            raise Problem(400, f"{name} must be at least {minimum}")
        return value

    def _limit(self, request: Request, name: str) -> int:
        return min(self._number(request, name, self.default_limit, 1), self.max_limit)

    def _slice(self, first: int, count: int) -> list[dict[str, Any]]:
        """``count`` items from number ``first`` (1-based), as far as there are."""
        last = min(first + count - 1, self.items)
        return [item(number) for number in range(max(first, 1), last + 1)]

    def _cursor_items(self, request: Request) -> Response:
        limit = self._limit(request, "limit")
        cursor = request.args.get("cursor") or ""
        try:
            after = decode_item_cursor(cursor) if cursor else 0
        except ValueError:
            raise Problem(400, "unknown cursor") from None
        records = self._slice(after + 1, limit)
        end = after + len(records)
        next_cursor = encode_item_cursor(end) if records and end < self.items else None
        return json_response({"data": records, "meta": {"next_cursor": next_cursor}})

    def _loop_items(self, request: Request) -> Response:
        records = self._slice(1, self._limit(request, "limit"))
        return json_response({"data": records, "meta": {"next_cursor": LOOP_CURSOR}})

    def _link_items(self, request: Request) -> Response:
        page = self._number(request, "page", 1, 1)
        per_page = self._limit(request, "per_page")
        records = self._slice((page - 1) * per_page + 1, per_page)
        last_page = max(1, -(-self.items // per_page))
        base = "" if self.relative_links else request.host_url.rstrip("/")

        def link(number: int, rel: str, title: str) -> str:
            target = f"{base}/link/items?{urlencode({'page': number, 'per_page': per_page})}"
            return f'<{target}>; rel="{rel}"; title="{title}"'

        links = [link(1, "first", "first page, of all")]
        if page > 1:
            links.append(link(page - 1, "prev", f"page {page - 1}"))
        if page < last_page:
            links.append(link(page + 1, "next", f"page {page + 1}, then more"))
        links.append(link(last_page, "last", "last page"))
        return json_response(records, headers={"Link": ", ".join(links)})

    def _offset_items(self, request: Request) -> Response:
        offset = self._number(request, "offset", 0, 0)
        limit = self._limit(request, "limit")
        records = self._slice(offset + 1, limit)
        return json_response(
            {"results": records, "offset": offset, "limit": limit, "total": self.items}
        )

    def _page_items(self, request: Request) -> Response:
        page = self._number(request, "page", 1, 1)
        per_page = self._limit(request, "per_page")
        records = self._slice((page - 1) * per_page + 1, per_page)
        return json_response(
            {"items": records, "page": page, "per_page": per_page, "total": self.items}
        )

    def _graphql(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            return json_response({"errors": [{"message": "the body is not JSON"}]}, 400)
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return json_response({"errors": [{"message": "a 'query' string is required"}]}, 400)
        variables = payload.get("variables") or {}
        if not isinstance(variables, dict):
            return json_response({"errors": [{"message": "'variables' must be an object"}]}, 400)
        first = variables.get("first", self.default_limit)
        after = variables.get("after")
        if not isinstance(first, int) or isinstance(first, bool) or first < 1:
            return json_response({"errors": [{"message": "first must be a positive integer"}]})
        try:
            start = decode_item_cursor(after) if isinstance(after, str) and after else 0
        except ValueError:
            return json_response(
                {"data": None, "errors": [{"message": "invalid cursor for after"}]}
            )
        records = self._slice(start + 1, min(first, self.max_limit))
        edges = [{"node": record, "cursor": encode_item_cursor(record["id"])} for record in records]
        end = start + len(records)
        return json_response(
            {
                "data": {
                    "items": {
                        "edges": edges,
                        "pageInfo": {
                            "hasNextPage": end < self.items,
                            "endCursor": edges[-1]["cursor"] if edges else None,
                        },
                        "totalCount": self.items,
                    }
                }
            }
        )

    # -- situations ---------------------------------------------------------------------------

    @staticmethod
    def _status(raw: str) -> Response:
        if not raw.isdigit() or not 200 <= int(raw) <= 599:
            return _error(400, "the status must be 200..599")
        status = int(raw)
        if status in {204, 304}:
            return Response(status=status)
        response = json_response({"status": status}, status)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="test-api"'
        elif status in {429, 503}:
            response.headers["Retry-After"] = "1"
        elif 300 <= status < 400:
            response.headers["Location"] = "/me"
        return response

    def _slow(self, request: Request) -> Response:
        raw = request.args.get("seconds", "1")
        try:
            seconds = float(raw)
        except ValueError:
            raise Problem(400, "seconds must be a number") from None
        if not 0 <= seconds <= MAX_SLOW_SECONDS:
            raise Problem(400, f"seconds must be 0..{MAX_SLOW_SECONDS:g}")
        self._stopping.wait(seconds)
        return json_response({"slept": seconds})

    @staticmethod
    def _me(request: Request) -> Response:
        return json_response(
            {"id": "user-1", "name": "Test User", "email": "user-1@example.test", "plan": "free"}
        )

    def _big(self, request: Request) -> Response:
        size = self._number(request, "bytes", self.big_bytes, len(_BIG_PREFIX + _BIG_SUFFIX))
        if size > MAX_BIG_BYTES:
            raise Problem(400, f"bytes must be at most {MAX_BIG_BYTES}")
        chunked = request.args.get("chunked", "").lower() in {"1", "true", "yes"}

        def body() -> Iterator[bytes]:
            yield _BIG_PREFIX
            left = size - len(_BIG_PREFIX) - len(_BIG_SUFFIX)
            block = b"x" * _CHUNK
            while left > 0:
                piece = block if left >= _CHUNK else block[:left]
                left -= len(piece)
                yield piece
            yield _BIG_SUFFIX

        response = Response(body(), content_type="application/json", direct_passthrough=True)
        if not chunked:
            response.headers["Content-Length"] = str(size)
        return response

    @staticmethod
    def _echo(request: Request) -> Response:
        raw = request.get_data(cache=True)
        try:
            body: Any = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        return json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": {name: request.args.getlist(name) for name in request.args},
                "headers": {name.lower(): value for name, value in request.headers.items()},
                "body": body,
            }
        )

    @staticmethod
    def _redirect(request: Request) -> Response:
        to = request.args.get("to")
        if to is None:
            hops = request.args.get("hops", "1")
            if not hops.isdigit():
                raise Problem(400, "hops must be a whole number")
            count = int(hops)
            to = "/me" if count <= 1 else f"/redirect?{urlencode({'hops': count - 1})}"
        response = Response(status=302)
        response.headers["Location"] = to
        return response


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tether_emulators.sample_api",
        description="A local paginated HTTP API for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8090, help="port (0: any free one)")
    parser.add_argument("--items", type=int, default=1000, help="records in the dataset")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS (self-signed)")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    api = SampleApi(items=args.items, tls=args.tls)
    api.start(args.host, args.port)
    log.info("sample API on %s (%d items)", api.url, api.items)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

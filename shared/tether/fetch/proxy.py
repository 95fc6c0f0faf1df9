"""The proxy: a caller's request passed to a connection's API with its credentials attached,
for the endpoints no action covers.

:meth:`ConnectionProxy.forward` sends the method, the path as the caller encoded it (an encoded
``/`` stays ``%2F``; under the connection's API base URL: no ``.``/``..`` segment, however it
is spelled — encoded, double-encoded, with ``;parameters``, or next to an encoded ``/`` or
backslash a server may split on — and no other origin; with the query, :data:`MAX_URL_CHARS` at
most), the query as written and the body through the connection's sender, so the request gets
the connection's auth (one refresh after a 401), its rate limit, the SSRF guard, the
destination binding and the outbound client's retries (of idempotent methods). What the caller
sends is filtered first: hop-by-hop headers (RFC 9110 §7.6.1, and any header the ``Connection``
header names), ``Host`` and ``Content-Length``, and every header that carries credentials
(``Authorization``, cookies, the header the connection's own auth uses) are never forwarded,
nor ``Accept-Encoding`` (the outbound client asks for the codings it decodes) or ``Range`` (the
answer is masked whole). The answer comes back as the provider sent it (any status), less
hop-by-hop headers (those its ``Connection`` header names too), ``Set-Cookie`` and CORS
headers, with every credential value of the connection masked in its body and headers; one
still in a content coding (which could not be masked) is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from tether.catalog.schema import ApiKeyAuth, OAuth2Auth
from tether.catalog.templates import join_url
from tether.domain.errors import InvalidRequest
from tether.domain.models import Principal
from tether.fetch.calls import ConnectionCalls, ConnectionSender
from tether.http.content_decoding import DECODED_CODINGS
from tether.http.model import OutboundError, OutboundResponse
from tether.http.redact import encoded_forms

__all__ = ["ConnectionProxy", "ProxyAnswer", "ProxyRequest", "forwarded_headers"]

REDACTED = b"[REDACTED]"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never from the caller: the credentials are Tether's to attach; the rest is the transport's.
_NEVER_FORWARDED = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "content-length",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        # A path other than the one checked, for servers that take it from a header (IIS's
        # URL rewrite, Symfony): the request could leave the API's base path.
        "x-original-url",
        "x-rewrite-url",
        # Client addresses some servers trust (allowlists, rate limits): not the caller's.
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "x-api-key",
        "x-tether-connection",
        # The outbound client asks for the codings it decodes: an answer in another one
        # could not be masked (see ConnectionProxy.forward).
        "accept-encoding",
        # Masking works on a whole body: ranges could cut a credential into pieces that each
        # pass unmasked.
        "range",
        "if-range",
    }
)
_NEVER_RETURNED = frozenset({"set-cookie", "content-length", "content-encoding"})
# Which web origins may read Tether's answers is Tether's CORS policy, not the provider's.
_CORS_PREFIX = "access-control-"
# JSON's two-character escapes (RFC 8259 §7).
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_SEPARATORS = re.compile(r"[/\\]")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# The longest URL the proxy sends: the deployed server takes request lines of any length, the
# outbound client builds none over 64 KiB (httpx's limit, the credential's query included),
# and providers' servers refuse far shorter ones (8 to 16 KiB) themselves.
MAX_URL_CHARS = 32 * 1024


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class ProxyAnswer:
    status: int
    headers: list[tuple[str, str]]
    content: bytes


def forwarded_headers(
    headers: Sequence[tuple[str, str]], *, also_drop: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The caller's headers that may go on to the provider."""
    dropped = _HOP_BY_HOP | _NEVER_FORWARDED | _named_by_connection(headers) | also_drop
    return {name: value for name, value in headers if name.lower() not in dropped}


def _named_by_connection(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The headers the ``Connection`` header names: for this hop only (RFC 9110 §7.6.1)."""
    return frozenset(
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    )


def _auth_header(sender: ConnectionSender) -> frozenset[str]:
    """The header the connection's own auth puts its credential in."""
    auth = sender.provider.auth
    if isinstance(auth, ApiKeyAuth) and auth.location == "header":
        return frozenset({auth.name.lower()})
    if isinstance(auth, OAuth2Auth):
        return frozenset({auth.token_header.lower()})
    configured = sender.connection.config.get("api_key_name")
    return frozenset({configured.lower()}) if isinstance(configured, str) else frozenset()


def _fully_decoded(path: str) -> str:
    """``path`` percent-decoded until nothing changes (a few rounds at most): the spelling a
    server that decodes more than once would end up with."""
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return path


def _is_dot_segment(segment: str) -> bool:
    """Whether ``segment`` is ``.`` or ``..``, ``;parameters`` (RFC 2396 §3.3) aside: servlet
    containers (Tomcat, Jetty) drop a segment's parameters before they resolve dot segments,
    so ``..;x`` climbs one level there."""
    return segment.split(";", 1)[0] in (".", "..")


def _target(base_url: str, path: str, query: str) -> str:
    if _UNSAFE.search(path) or "\\" in path:
        raise InvalidRequest(
            "the path must not contain spaces or control characters", code="INVALID_PATH"
        )
    if any(_is_dot_segment(segment) for segment in _SEPARATORS.split(_fully_decoded(path))):
        raise InvalidRequest("the path must not contain . or .. segments", code="INVALID_PATH")
    url = join_url(base_url, "/" + path.lstrip("/")) if path else base_url
    base, target = urlsplit(base_url), urlsplit(url)
    if (base.scheme, base.netloc) != (target.scheme, target.netloc):
        raise InvalidRequest("the path leaves the API's host", code="INVALID_PATH")
    whole = f"{url}?{query}" if query else url
    if len(whole) > MAX_URL_CHARS:
        raise InvalidRequest(
            f"the path and query are longer than {MAX_URL_CHARS} characters in all",
            code="URL_TOO_LONG",
            http_status=414,
        )
    return whole


class ConnectionProxy:
    def __init__(self, calls: Callable[[], ConnectionCalls]) -> None:
        self._calls = calls

    def forward(
        self, principal: Principal, connection_id: str, request: ProxyRequest
    ) -> ProxyAnswer:
        method = request.method.upper()
        if method not in METHODS:
            raise InvalidRequest(
                f"the proxy does not pass {method} requests", code="METHOD_NOT_PROXIED"
            )
        sender = self._calls().sender(principal, connection_id, purpose="proxy")
        url = _target(sender.base_url, request.path, request.query)
        headers = forwarded_headers(request.headers, also_drop=_auth_header(sender))
        response = sender(
            method,
            url,
            params=None,
            headers=headers,
            content=request.body if request.body else None,
        )
        _check_readable(response, url)
        secrets = self._secrets(sender)
        dropped = _HOP_BY_HOP | _NEVER_RETURNED | _named_by_connection(response.headers.items())
        return ProxyAnswer(
            status=response.status,
            headers=[
                (name, _mask_text(value, secrets))
                for name, value in response.headers.items()
                if name.lower() not in dropped and not name.lower().startswith(_CORS_PREFIX)
            ],
            content=_mask(response.content, secrets),
        )

    @staticmethod
    def _secrets(sender: ConnectionSender) -> list[str]:
        values = [*sender.credential_values, *(sender.auth.secrets() if sender.auth else ())]
        forms = {form for value in values if len(value) >= 4 for form in encoded_forms(value)}
        return sorted(forms, key=len, reverse=True)


def _check_readable(response: OutboundResponse, url: str) -> None:
    """Refuse an answer still in a content coding (one the outbound client left as it came,
    such as ``br`` or ``x-gzip``): its body could not be masked, so a credential in it would
    reach the caller."""
    codings = response.headers.get("content-encoding", "").lower().split(",")
    if {coding.strip() for coding in codings if coding.strip()} - DECODED_CODINGS:
        raise OutboundError(
            f"{urlsplit(url).hostname} answered in a content coding the proxy cannot read",
            failure="protocol",
            retryable=False,
        )


def _mask(content: bytes, secrets: Sequence[str]) -> bytes:
    for secret in secrets:
        content = content.replace(secret.encode("utf-8"), REDACTED)
    if b"\\" in content:  # a JSON escape, perhaps inside an echoed credential
        escaped = _json_escaped(secrets)
        if escaped is not None:
            content = escaped.sub(REDACTED, content)
    return content


def _json_escaped(secrets: Sequence[str]) -> re.Pattern[bytes] | None:
    """Every secret as a JSON encoder may write it in a string, one escape or more in it: PHP
    writes ``/`` as ``\\/``, Go ``<>&`` and .NET ``+`` as ``\\u003c``…, and any encoder may
    escape any character so. ``None`` when no secret has a character but letters and digits."""
    written = [
        "".join(_json_char(char) for char in secret)
        for secret in secrets
        if not all(char.isascii() and char.isalnum() for char in secret)
    ]
    return re.compile("|".join(written).encode("utf-8")) if written else None


def _json_char(char: str) -> str:
    """A pattern of ``char`` in a JSON string: as itself or escaped (hex digits in any case)."""
    if char.isascii() and char.isalnum():
        return char
    units = char.encode("utf-16-be")
    escape = "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    options = [re.escape(char), f"(?i:{re.escape(escape)})"]
    if char in _SHORT_ESCAPES:
        options.append(re.escape(_SHORT_ESCAPES[char]))
    return "(?:" + "|".join(options) + ")"


def _mask_text(value: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        value = value.replace(secret, REDACTED.decode())
    return value

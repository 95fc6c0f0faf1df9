"""Schemes that put one HMAC of the raw body (Square: of the URL and the body) in one header:
the configurable ``hmac`` scheme and GitHub, Shopify, Xero and Square, which are fixed settings
of it. None of them signs a timestamp, so none can reject a replay on its own: the caller's
de-duplication by event id is the replay defence for these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import (
    ALGORITHMS,
    check_options,
    decode_base64,
    decode_hex,
    fail,
    hmac_digest,
    is_header_name,
    require_header,
    usable_secrets,
    verify_any,
)

__all__ = [
    "GitHubScheme",
    "HmacScheme",
    "ShopifyScheme",
    "SquareScheme",
    "XeroScheme",
]

_ENCODINGS = ("hex", "base64")
# Characters that appear in no hex or base64 digest.
_SEPARATORS = (",", ";", " ")


class HmacScheme:
    """``header: <prefix><encoding(HMAC-<algorithm>(secret, body))>``.

    As the ``hmac`` scheme its options are ``header`` (required), ``algorithm`` (``sha256``
    default, ``sha1``, ``sha512``), ``encoding`` (``hex`` default, either case accepted, or
    ``base64``), ``prefix`` (default ``""``, e.g. ``"sha256="``, matched exactly) and
    ``event_id_header`` (default none) and ``separator`` (default none): the header may carry
    several ``<prefix><digest>`` entries separated by it, as PagerDuty's
    ``X-PagerDuty-Signature: v1=<hex>,v1=<hex>`` does while a secret is being rotated; any
    entry matching is enough, and entries without the prefix (another version) are ignored.
    ``sign_url`` (not an option of ``hmac``: Square's rule) prepends the request URL to the
    body.
    """

    name: str = "hmac"
    event_id_header: str | None = None
    verifies: bool = True

    def __init__(
        self,
        *,
        header: str,
        algorithm: str = "sha256",
        encoding: str = "hex",
        prefix: str = "",
        event_id_header: str | None = None,
        sign_url: bool = False,
        separator: str | None = None,
        name: str = "hmac",
    ) -> None:
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise ValueError(
                f"webhook scheme {name!r}: algorithm must be one of {sorted(ALGORITHMS)}"
            )
        if not isinstance(encoding, str) or encoding not in _ENCODINGS:
            raise ValueError(f"webhook scheme {name!r}: encoding must be one of {list(_ENCODINGS)}")
        for label, value in (("header", header), ("event_id_header", event_id_header)):
            if value is not None and not is_header_name(value):
                raise ValueError(f"webhook scheme {name!r}: {label} is not a header name")
        if not isinstance(prefix, str):
            raise ValueError(f"webhook scheme {name!r}: prefix must be a string")
        if separator is not None and separator not in _SEPARATORS:
            raise ValueError(
                f"webhook scheme {name!r}: separator must be one of {list(_SEPARATORS)}"
            )
        self.name = name
        self.header = header.lower()
        self.algorithm = algorithm
        self.encoding = encoding
        self.prefix = prefix
        self.event_id_header = event_id_header.lower() if event_id_header else None
        self.sign_url = sign_url
        self.separator = separator

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        opts = check_options(
            "hmac",
            options,
            ("header", "algorithm", "encoding", "prefix", "event_id_header", "separator"),
        )
        header = opts.get("header")
        if not isinstance(header, str):
            raise ValueError("webhook scheme 'hmac': the header option is required")
        return cls(
            header=header,
            algorithm=opts.get("algorithm", "sha256"),
            encoding=opts.get("encoding", "hex"),
            prefix=opts.get("prefix", ""),
            event_id_header=opts.get("event_id_header"),
            separator=opts.get("separator"),
        )

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        keys = usable_secrets(self.name, secrets)
        value = require_header(self.name, request, self.header)
        provided = self._signatures(value)
        message = request.url.encode("utf-8") + request.body if self.sign_url else request.body
        verify_any(
            self.name,
            keys,
            lambda key: [hmac_digest(self.algorithm, key, message)],
            provided,
        )

    def _signatures(self, value: str) -> list[bytes]:
        """The decoded digests of the header: its one value, or with a ``separator`` each
        entry that has the prefix and decodes (at least one must)."""
        if self.separator is None:
            entries = [value]
        else:
            entries = [e.strip() for e in value.split(self.separator)]
        signed = [e[len(self.prefix) :] for e in entries if e.startswith(self.prefix)]
        if not signed:
            raise fail(self.name, "malformed", f"the {self.header} header lacks its prefix")
        decode = decode_hex if self.encoding == "hex" else decode_base64
        provided = [digest for digest in map(decode, signed) if digest is not None]
        if not provided:
            raise fail(self.name, "malformed", f"the {self.header} header is not {self.encoding}")
        return provided


class GitHubScheme(HmacScheme):
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``. The legacy
    SHA-1 ``X-Hub-Signature`` is not accepted. Event id: ``X-GitHub-Delivery``."""

    def __init__(self) -> None:
        super().__init__(
            name="github",
            header="X-Hub-Signature-256",
            prefix="sha256=",
            event_id_header="X-GitHub-Delivery",
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        check_options("github", options, ())
        return cls()


class ShopifyScheme(HmacScheme):
    """Shopify: ``X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>``, the secret
    being the app's client secret. Event id: ``X-Shopify-Event-Id``."""

    def __init__(self) -> None:
        super().__init__(
            name="shopify",
            header="X-Shopify-Hmac-Sha256",
            encoding="base64",
            event_id_header="X-Shopify-Event-Id",
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        check_options("shopify", options, ())
        return cls()


class XeroScheme(HmacScheme):
    """Xero: ``x-xero-signature: <base64 HMAC-SHA256(webhook key, body)>``.

    Intent to receive: before Xero enables a subscription it sends a few deliveries with an
    empty ``events`` list, some signed correctly and some not, and expects ``200`` (empty body)
    for each correctly signed one and ``401`` for each other, within five seconds. This
    ``verify`` is all that takes: the caller answers 200 when it returns and 401 when it raises
    :class:`SignatureError` (whose status is 401), and must not special-case the handshake.
    Xero puts no event id in a header (de-duplicate on the body).
    """

    def __init__(self) -> None:
        super().__init__(name="xero", header="x-xero-signature", encoding="base64")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        check_options("xero", options, ())
        return cls()


class SquareScheme(HmacScheme):
    """Square: ``x-square-hmacsha256-signature: <base64 HMAC-SHA256(signature key,
    notification URL + body)>``. The notification URL is the subscription's URL exactly as
    registered with Square, which is the URL Square calls: ``request.url`` must be that public
    URL, byte for byte (scheme, host, path and any query), not an internal address behind a
    proxy. The legacy SHA-1 ``x-square-signature`` is not accepted. The event id is in the body
    (``event_id``)."""

    def __init__(self) -> None:
        super().__init__(
            name="square",
            header="x-square-hmacsha256-signature",
            encoding="base64",
            sign_url=True,
        )

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        check_options("square", options, ())
        return cls()

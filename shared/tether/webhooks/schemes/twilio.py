"""Twilio: ``X-Twilio-Signature: <base64 HMAC-SHA1(auth token, url + params)>``.

``url`` is the full URL Twilio called, query string included. ``params``:

* ``application/x-www-form-urlencoded`` body: the POST parameters sorted by name (case
  sensitive, code-point order), each name followed by its value with no delimiters; a name sent
  several times contributes each distinct value in sorted order (as Twilio's own validators
  do).
* JSON (or any other) body: Twilio adds a ``bodySHA256`` query parameter to the URL, the hex
  SHA-256 of the raw body. Nothing is appended to the URL (which already carries the hash), and
  the body must hash to that value.
* Empty body (GET): the URL alone.

A non-empty body that is neither form-encoded nor covered by ``bodySHA256`` is refused as
``malformed``: the signature would not cover it. As Twilio's validators do, the URL is tried as
given and with its default port added (or removed), since Twilio is not consistent about it.
When the request carries ``X-Twilio-Webhooks-Signature-Settings: key=...,algorithm=...``
(webhooks signed with a SharedKey), ``HMAC_SHA256`` selects SHA-256 and the secret is the
SharedKey's; any other algorithm than ``HMAC_SHA1``/``HMAC_SHA256`` is ``malformed``. Event id:
``I-Twilio-Idempotency-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Self
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import (
    check_options,
    decode_base64,
    decode_hex,
    fail,
    hmac_digest,
    require_header,
    usable_secrets,
    verify_any,
)

__all__ = ["TwilioScheme", "twilio_signed_string"]

_SIGNATURE = "X-Twilio-Signature"
_SETTINGS = "X-Twilio-Webhooks-Signature-Settings"
_BODY_HASH = "bodySHA256"
_FORM = "application/x-www-form-urlencoded"
_ALGORITHMS: Final[Mapping[str, str]] = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def twilio_signed_string(url: str, params: list[tuple[str, str]]) -> str:
    """The string Twilio signs: ``url`` then, sorted by name, each name and value."""
    by_name: dict[str, set[str]] = {}
    for name, value in params:
        by_name.setdefault(name, set()).add(value)
    return url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )


class TwilioScheme:
    name: str = "twilio"
    event_id_header: str | None = "i-twilio-idempotency-token"
    verifies: bool = True

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        check_options("twilio", options, ())
        return cls()

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        keys = usable_secrets(self.name, secrets)
        provided = decode_base64(require_header(self.name, request, _SIGNATURE))
        if provided is None:
            raise fail(self.name, "malformed", f"the {_SIGNATURE} header is not base64")
        algorithm = self._algorithm(request)
        urls = self._url_variants(request.url)
        body_hashes = parse_qs(urlsplit(request.url).query, keep_blank_values=True).get(_BODY_HASH)
        body_ok = True
        if body_hashes is not None:
            expected_hash = decode_hex(body_hashes[0]) if len(body_hashes) == 1 else None
            if expected_hash is None:
                raise fail(self.name, "malformed", f"the {_BODY_HASH} parameter is malformed")
            body_ok = hmac.compare_digest(hashlib.sha256(request.body).digest(), expected_hash)
            params: list[tuple[str, str]] = []
        else:
            params = self._form_params(request)
        verify_any(
            self.name,
            keys,
            lambda key: [
                hmac_digest(algorithm, key, twilio_signed_string(url, params).encode("utf-8"))
                for url in urls
            ],
            [provided],
        )
        if not body_ok:
            raise fail(self.name, "mismatch", f"the body does not match its {_BODY_HASH}")

    def _algorithm(self, request: InboundRequest) -> str:
        settings = request.header(_SETTINGS)
        if settings is None or not settings.strip():
            return "sha1"
        named = "HMAC_SHA1"
        for part in settings.split(","):
            key, sep, value = part.partition("=")
            if sep and key.strip() == "algorithm" and value.strip():
                named = value.strip().upper()
        if named not in _ALGORITHMS:
            raise fail(self.name, "malformed", f"the {_SETTINGS} header names an unknown algorithm")
        return _ALGORITHMS[named]

    def _url_variants(self, url: str) -> list[str]:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise fail(self.name, "malformed", "the request URL has an invalid port") from None
        if port is not None:
            other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
        else:
            default = 443 if parts.scheme == "https" else 80
            other = parts._replace(netloc=f"{parts.netloc}:{default}")
        return [url, urlunsplit(other)]

    def _form_params(self, request: InboundRequest) -> list[tuple[str, str]]:
        if not request.body:
            return []
        media_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media_type != _FORM:
            raise fail(
                self.name,
                "malformed",
                f"a body that is not form-encoded needs a {_BODY_HASH} URL parameter",
            )
        try:
            return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise fail(self.name, "malformed", "the form body is not valid UTF-8") from None

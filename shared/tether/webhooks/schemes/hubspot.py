"""HubSpot v3: ``X-HubSpot-Signature-v3: <base64>`` with ``X-HubSpot-Request-Timestamp``
(Unix milliseconds).

The signature is the base64 HMAC-SHA256, keyed with the app's client secret, of
``method + uri + body + timestamp``, where ``uri`` is the full URL HubSpot called (scheme,
host, path and query, in the order sent) with these percent-encodings decoded first, per
HubSpot's "Validate the v3 request signature" rule: ``%3A`` ``:``, ``%2F`` ``/``, ``%3F``
``?``, ``%40`` ``@``, ``%21`` ``!``, ``%24`` ``$``, ``%27`` ``'``, ``%28`` ``(``, ``%29``
``)``, ``%2A`` ``*``, ``%2C`` ``,``, ``%3B`` ``;`` (either hex case); every other escape is
kept as sent. The timestamp is the header's text as sent and must be within the tolerance
(300 s by default, option ``tolerance_seconds``) of ``now``, either side. The older
``X-HubSpot-Signature`` (v1/v2, no timestamp) is not accepted. Event ids are in the body (a
JSON array of events, each with ``eventId``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import (
    TimestampedScheme,
    check_fresh,
    decode_base64,
    fail,
    hmac_digest,
    parse_timestamp,
    require_header,
    usable_secrets,
    verify_any,
)

__all__ = ["HubSpotV3Scheme", "hubspot_v3_uri"]

_SIGNATURE = "X-HubSpot-Signature-v3"
_TIMESTAMP = "X-HubSpot-Request-Timestamp"

_DECODED: Final[Mapping[str, str]] = {
    "3A": ":",
    "2F": "/",
    "3F": "?",
    "40": "@",
    "21": "!",
    "24": "$",
    "27": "'",
    "28": "(",
    "29": ")",
    "2A": "*",
    "2C": ",",
    "3B": ";",
}
_ESCAPE = re.compile("%(" + "|".join(_DECODED) + ")", re.IGNORECASE)


def hubspot_v3_uri(url: str) -> str:
    """The URL as HubSpot signs it: only the listed percent-encodings decoded, in one pass (so
    ``%253A`` stays ``%253A``)."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(1).upper()], url)


class HubSpotV3Scheme(TimestampedScheme):
    name: str = "hubspot_v3"

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        keys = usable_secrets(self.name, secrets)
        value = require_header(self.name, request, _SIGNATURE)
        stamp = require_header(self.name, request, _TIMESTAMP)
        provided = decode_base64(value)
        if provided is None:
            raise fail(self.name, "malformed", f"the {_SIGNATURE} header is not base64")
        sent_at_ms = parse_timestamp(self.name, stamp, _TIMESTAMP)
        message = (
            request.method.upper().encode("utf-8")
            + hubspot_v3_uri(request.url).encode("utf-8")
            + request.body
            + stamp.encode("ascii")
        )
        verify_any(self.name, keys, lambda key: [hmac_digest("sha256", key, message)], [provided])
        check_fresh(self.name, sent_at_ms / 1000, now, self.tolerance_seconds)

"""Stripe: ``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]``.

Each ``v1`` is the hex HMAC-SHA256, keyed with the endpoint's signing secret (``whsec_...``,
used as is), of ``f"{t}.{body}"``; any one ``v1`` matching is enough (Stripe sends several
while an endpoint secret is being rolled). Other schemes in the header (``v0``, test-mode
signatures) are ignored. ``t`` must be within the tolerance (300 s by default, option
``tolerance_seconds``) of ``now``, either side. The event id is in the body (``id``).
"""

from __future__ import annotations

from datetime import datetime

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import (
    TimestampedScheme,
    check_fresh,
    decode_hex,
    fail,
    hmac_digest,
    parse_timestamp,
    require_header,
    usable_secrets,
    verify_any,
)

__all__ = ["StripeScheme"]

_HEADER = "Stripe-Signature"


class StripeScheme(TimestampedScheme):
    name: str = "stripe"

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        keys = usable_secrets(self.name, secrets)
        value = require_header(self.name, request, _HEADER)
        timestamps: list[str] = []
        signatures: list[bytes] = []
        for item in value.split(","):
            key, sep, val = item.strip().partition("=")
            if not sep:
                raise fail(self.name, "malformed", f"the {_HEADER} header is malformed")
            if key == "t":
                timestamps.append(val)
            elif key == "v1":
                digest = decode_hex(val)
                if digest is not None:
                    signatures.append(digest)
        if len(timestamps) != 1:
            raise fail(self.name, "malformed", f"the {_HEADER} header needs exactly one t=")
        if not signatures:
            raise fail(self.name, "malformed", f"the {_HEADER} header has no v1 signature")
        stamp = timestamps[0]
        sent_at = parse_timestamp(self.name, stamp, _HEADER)
        message = stamp.encode("ascii") + b"." + request.body
        verify_any(self.name, keys, lambda key: [hmac_digest("sha256", key, message)], signatures)
        check_fresh(self.name, sent_at, now, self.tolerance_seconds)

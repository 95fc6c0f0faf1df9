"""Standard Webhooks (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature`` (space-separated ``v1,<base64>`` entries).

Each ``v1`` signature is the base64 HMAC-SHA256 of ``f"{id}.{timestamp}.{body}"`` keyed with
the secret's bytes: the secret is ``whsec_<base64>`` (the prefix is optional, as in the
reference library) and an undecodable or empty one is treated as no secret. Any ``v1`` entry
matching is enough; entries of other versions (``v1a``, asymmetric) are ignored. The timestamp
must be within the tolerance (300 s by default, option ``tolerance_seconds``) of ``now``,
either side. Event id: ``webhook-id``.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

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

__all__ = ["StandardWebhooksScheme", "decode_whsec"]

_ID = "webhook-id"
_TIMESTAMP = "webhook-timestamp"
_SIGNATURE = "webhook-signature"
_PREFIX = "whsec_"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def decode_whsec(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_<base64>`` secret; ``None`` when it is not one."""
    encoded = secret.strip().removeprefix(_PREFIX)
    if not _BASE64.fullmatch(encoded):
        return None
    data = encoded.rstrip("=")
    try:
        key = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


class StandardWebhooksScheme(TimestampedScheme):
    name: str = "standard_webhooks"
    event_id_header: str | None = _ID

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        usable_secrets(self.name, secrets)
        keys = [decode_whsec(secret) for secret in secrets]
        if any(key is None for key in keys):
            raise fail(self.name, "no_secret", "the signing secret is not a whsec_ secret")
        msg_id = require_header(self.name, request, _ID)
        stamp = require_header(self.name, request, _TIMESTAMP)
        value = require_header(self.name, request, _SIGNATURE)
        signatures: list[bytes] = []
        for entry in value.split():
            version, sep, encoded = entry.partition(",")
            digest = decode_base64(encoded) if sep and version == "v1" else None
            if digest is not None:
                signatures.append(digest)
        if not signatures:
            raise fail(self.name, "malformed", f"the {_SIGNATURE} header has no v1 signature")
        sent_at = parse_timestamp(self.name, stamp, _TIMESTAMP)
        message = f"{msg_id}.{stamp}.".encode() + request.body
        verify_any(
            self.name,
            [key for key in keys if key is not None],
            lambda key: [hmac_digest("sha256", key, message)],
            signatures,
        )
        check_fresh(self.name, sent_at, now, self.tolerance_seconds)

"""Standard Webhooks (standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature`` (space-separated ``v1,<base64>`` entries); and Svix, which
the specification grew out of and which signs the same way under ``svix-id``,
``svix-timestamp`` and ``svix-signature`` (https://docs.svix.com/receiving/verifying-payloads/
how-manual).

Each ``v1`` signature is the base64 HMAC-SHA256 of ``f"{id}.{timestamp}.{body}"`` keyed with
the secret's bytes: the secret is ``whsec_<base64>`` (the prefix is optional, as in the
reference library) and an undecodable or empty one is treated as no secret. Any ``v1`` entry
matching is enough (the sender lists one per secret while a secret is being rotated); entries
of other versions (``v1a``, asymmetric) are ignored. The timestamp must be within the
tolerance (300 s by default, option ``tolerance_seconds``) of ``now``, either side. Event id:
the id header. The ``svix`` scheme reads the ``svix-`` headers only: a Svix sender configured
for the unbranded ``webhook-`` headers is a ``standard_webhooks`` one.
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

__all__ = ["StandardWebhooksScheme", "SvixScheme", "decode_whsec"]

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
    #: The prefix of the three header names: ``webhook-`` or ``svix-``.
    header_prefix: str = "webhook-"
    event_id_header: str | None = "webhook-id"

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        id_header, stamp_header, signature_header = (
            self.header_prefix + part for part in ("id", "timestamp", "signature")
        )
        usable_secrets(self.name, secrets)
        keys = [decode_whsec(secret) for secret in secrets]
        if any(key is None for key in keys):
            raise fail(self.name, "no_secret", "the signing secret is not a whsec_ secret")
        msg_id = require_header(self.name, request, id_header)
        stamp = require_header(self.name, request, stamp_header)
        value = require_header(self.name, request, signature_header)
        signatures: list[bytes] = []
        for entry in value.split():
            version, sep, encoded = entry.partition(",")
            digest = decode_base64(encoded) if sep and version == "v1" else None
            if digest is not None:
                signatures.append(digest)
        if not signatures:
            raise fail(self.name, "malformed", f"the {signature_header} header has no v1 signature")
        sent_at = parse_timestamp(self.name, stamp, stamp_header)
        message = f"{msg_id}.{stamp}.".encode() + request.body
        verify_any(
            self.name,
            [key for key in keys if key is not None],
            lambda key: [hmac_digest("sha256", key, message)],
            signatures,
        )
        check_fresh(self.name, sent_at, now, self.tolerance_seconds)


class SvixScheme(StandardWebhooksScheme):
    """Svix (Clerk, Resend and the other senders that deliver through Svix): the Standard
    Webhooks algorithm under the ``svix-`` headers."""

    name: str = "svix"
    header_prefix: str = "svix-"
    event_id_header: str | None = "svix-id"

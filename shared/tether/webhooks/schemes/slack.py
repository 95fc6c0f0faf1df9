"""Slack: ``X-Slack-Signature: v0=<hex>`` with ``X-Slack-Request-Timestamp: <unix seconds>``.

The signature is the hex HMAC-SHA256, keyed with the app's signing secret, of
``f"v0:{timestamp}:{body}"``. The timestamp must be within the tolerance (300 s by default,
option ``tolerance_seconds``) of ``now``, either side. The event id is in the body
(``event_id``); Slack marks its retries with ``X-Slack-Retry-Num``.
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

__all__ = ["SlackScheme"]

_SIGNATURE = "X-Slack-Signature"
_TIMESTAMP = "X-Slack-Request-Timestamp"
_VERSION = "v0"


class SlackScheme(TimestampedScheme):
    name: str = "slack"

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        keys = usable_secrets(self.name, secrets)
        value = require_header(self.name, request, _SIGNATURE)
        stamp = require_header(self.name, request, _TIMESTAMP)
        version, sep, encoded = value.partition("=")
        provided = decode_hex(encoded) if sep and version == _VERSION else None
        if provided is None:
            raise fail(self.name, "malformed", f"the {_SIGNATURE} header is not v0=<hex>")
        sent_at = parse_timestamp(self.name, stamp, _TIMESTAMP)
        message = f"{_VERSION}:{stamp}:".encode("ascii") + request.body
        verify_any(self.name, keys, lambda key: [hmac_digest("sha256", key, message)], [provided])
        check_fresh(self.name, sent_at, now, self.tolerance_seconds)

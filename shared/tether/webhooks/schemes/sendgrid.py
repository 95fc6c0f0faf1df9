"""Twilio SendGrid's signed Event Webhook: ``X-Twilio-Email-Event-Webhook-Signature`` (base64
of a DER-encoded ECDSA P-256 / SHA-256 signature) and ``X-Twilio-Email-Event-Webhook-Timestamp``
(Unix seconds), https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/
getting-started-event-webhook-security-features.

The signed message is the timestamp header's value followed by the raw body. The "secret" is
the account's verification key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo;
a PEM block is accepted too): a public key, so nothing here is an HMAC, and verification is
``cryptography``'s ECDSA. Several keys (a rotation overlap) are tried, any one verifying is
enough; a key that is not a P-256 public key is ``no_secret``. The timestamp must be within the
tolerance (300 s by default, option ``tolerance_seconds``) of ``now``, either side. A delivery
is a JSON list of events, each with its own ``sg_event_id``; no header names the delivery.

``cryptography`` is imported on first use: the ``webhooks`` function loads it only for a
SendGrid delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import (
    TimestampedScheme,
    check_fresh,
    decode_base64,
    fail,
    parse_timestamp,
    require_header,
    usable_secrets,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

__all__ = ["SendGridScheme", "load_verification_key"]

_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
_PEM_HEAD = "-----BEGIN PUBLIC KEY-----"
_PEM_TAIL = "-----END PUBLIC KEY-----"


def load_verification_key(value: str) -> EllipticCurvePublicKey | None:
    """The P-256 public key of a SendGrid verification key (base64 DER, or PEM); ``None``
    when it is not one."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    text = value.strip()
    if text.startswith(_PEM_HEAD) and text.endswith(_PEM_TAIL):
        text = "".join(text[len(_PEM_HEAD) : -len(_PEM_TAIL)].split())
    der = decode_base64(text)
    if der is None:
        return None
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


class SendGridScheme(TimestampedScheme):
    name: str = "sendgrid"

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        usable_secrets(self.name, secrets)
        keys = [load_verification_key(secret) for secret in secrets]
        if any(key is None for key in keys):
            raise fail(self.name, "no_secret", "the verification key is not a P-256 public key")
        signature = decode_base64(require_header(self.name, request, _SIGNATURE))
        stamp = require_header(self.name, request, _TIMESTAMP)
        if signature is None:
            raise fail(self.name, "malformed", f"the {_SIGNATURE} header is not base64")
        sent_at = parse_timestamp(self.name, stamp, _TIMESTAMP)
        message = stamp.encode("ascii") + request.body
        verified = False
        for key in keys:
            if key is None:
                continue
            try:
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            verified = True
        if not verified:
            raise fail(self.name, "mismatch", "the signature does not match")
        check_fresh(self.name, sent_at, now, self.tolerance_seconds)

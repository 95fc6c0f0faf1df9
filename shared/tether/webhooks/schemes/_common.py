"""Pieces every signature scheme shares: secret checks, header reading, strict decoding of the
signature, the constant-time comparison over every secret of a rotation overlap, the timestamp
tolerance and the options a scheme accepts.

Every failure raises :class:`SignatureError`; messages name the scheme and the header, never a
secret, a signature or a header value.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Self

from tether.webhooks.model import InboundRequest, SignatureError

__all__ = [
    "ALGORITHMS",
    "DEFAULT_TOLERANCE_SECONDS",
    "check_fresh",
    "check_options",
    "decode_base64",
    "decode_hex",
    "fail",
    "hmac_digest",
    "is_header_name",
    "parse_timestamp",
    "require_header",
    "tolerance_option",
    "usable_secrets",
    "verify_any",
]

DEFAULT_TOLERANCE_SECONDS: Final = 300
# Upper bound on a configured tolerance: a day is already far looser than any vendor documents.
_MAX_TOLERANCE_SECONDS: Final = 86_400

# hashlib names of the digests a scheme may use.
ALGORITHMS: Final = frozenset({"sha1", "sha256", "sha512"})

_HEX = re.compile(r"[0-9A-Fa-f]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# RFC 9110 token characters (lower case: header names are compared lower-cased).
_HEADER_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-")
# Seconds (or milliseconds) since the epoch: bounded so int() never sees a huge string.
_DIGITS = re.compile(r"[0-9]{1,18}")


def fail(scheme: str, reason: str, message: str) -> SignatureError:
    """The error to raise: ``reason`` is one of ``no_secret``, ``missing_header``,
    ``malformed``, ``mismatch``, ``stale``."""
    return SignatureError(f"{scheme}: {message}", reason=reason)


def usable_secrets(scheme: str, secrets: Sequence[str]) -> list[bytes]:
    """The secrets as HMAC keys (UTF-8). No secret, or any empty (or blank) one, fails with
    ``no_secret``: an HMAC under an empty key proves nothing, and a blank entry in a rotation
    list is a configuration error to surface, not to skip. A bare string is refused outright:
    iterating it would try every character as a secret."""
    if isinstance(secrets, str | bytes):
        raise TypeError("secrets must be a list of strings, not a single string")
    if not secrets or any(not isinstance(s, str) or not s.strip() for s in secrets):
        raise fail(scheme, "no_secret", "no signing secret is configured")
    return [s.encode("utf-8") for s in secrets]


def require_header(scheme: str, request: InboundRequest, name: str) -> str:
    """The header's value without surrounding whitespace; absent or empty -> ``missing_header``."""
    value = request.header(name)
    if value is None or not value.strip():
        raise fail(scheme, "missing_header", f"the {name} header is missing")
    return value.strip()


def is_header_name(value: object) -> bool:
    """A non-empty RFC 9110 token, as a header name must be."""
    return isinstance(value, str) and bool(value) and set(value.lower()) <= _HEADER_NAME_CHARS


def decode_hex(value: str) -> bytes | None:
    """A hex digest (either case) as bytes; ``None`` when it is not hex."""
    if len(value) % 2 or not _HEX.fullmatch(value):
        return None
    return bytes.fromhex(value)


def decode_base64(value: str) -> bytes | None:
    """A standard-alphabet base64 digest as bytes (padding optional); ``None`` otherwise."""
    if not _BASE64.fullmatch(value):
        return None
    data = value.rstrip("=")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def hmac_digest(algorithm: str, key: bytes, message: bytes) -> bytes:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported HMAC algorithm {algorithm!r}")
    return hmac.new(key, message, algorithm).digest()


def verify_any(
    scheme: str,
    keys: Iterable[bytes],
    expected_for: Callable[[bytes], Iterable[bytes]],
    provided: Sequence[bytes],
) -> None:
    """Passes when, for some key, one of the digests ``expected_for(key)`` equals one of the
    ``provided`` signatures; every comparison is ``hmac.compare_digest`` and none is skipped
    once a match is found. Otherwise ``mismatch``."""
    matched = False
    for key in keys:
        for expected in expected_for(key):
            for candidate in provided:
                matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise fail(scheme, "mismatch", "the signature does not match")


def parse_timestamp(scheme: str, value: str, header: str) -> int:
    """A non-negative integer timestamp; anything else -> ``malformed``."""
    if not _DIGITS.fullmatch(value):
        raise fail(scheme, "malformed", f"the {header} timestamp is not an integer")
    return int(value)


def check_fresh(scheme: str, sent_at: float, now: datetime, tolerance_seconds: int) -> None:
    """``sent_at`` (epoch seconds) within ``tolerance_seconds`` of ``now``, either side;
    otherwise ``stale``. A naive ``now`` is taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if abs(now.timestamp() - sent_at) > tolerance_seconds:
        raise fail(
            scheme,
            "stale",
            f"the signature timestamp is outside the {tolerance_seconds} s tolerance",
        )


def check_options(
    scheme: str, options: Mapping[str, Any] | None, allowed: Iterable[str]
) -> Mapping[str, Any]:
    """The options, refusing unknown keys (a typo must not silently weaken a check)."""
    options = options or {}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"webhook scheme {scheme!r} does not accept the option(s) {unknown}")
    return options


def tolerance_option(scheme: str, options: Mapping[str, Any]) -> int:
    """``tolerance_seconds``: a positive integer up to a day, default 300."""
    value = options.get("tolerance_seconds", DEFAULT_TOLERANCE_SECONDS)
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 < value <= _MAX_TOLERANCE_SECONDS
    ):
        raise ValueError(
            f"webhook scheme {scheme!r}: tolerance_seconds must be an integer "
            f"between 1 and {_MAX_TOLERANCE_SECONDS}"
        )
    return value


class TimestampedScheme:
    """Base of the schemes that sign a timestamp (Stripe, Slack, HubSpot v3, Standard
    Webhooks): the tolerance and the one option that sets it."""

    name: str = ""
    event_id_header: str | None = None
    verifies: bool = True

    def __init__(self, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        self.tolerance_seconds = tolerance_seconds

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        opts = check_options(cls.name, options, ("tolerance_seconds",))
        return cls(tolerance_seconds=tolerance_option(cls.name, opts))

"""HS256 JSON Web Tokens checked with the standard library: the dev tokens of ``tether dev``.

A token is the JWS Compact Serialization (RFC 7515 §7.1) of a JWT claims set (RFC 7519):
``BASE64URL(header) . BASE64URL(claims) . BASE64URL(HMAC-SHA256(secret, first two parts))``.
:func:`verify_hs256` checks, in this order and failing closed on anything unexpected:

* three segments of the base64url alphabet, each decodable (RFC 7515 §2, no padding);
* a header that is a JSON object whose ``alg`` is exactly ``HS256`` (so never ``none``,
  RFC 8725 §3.1), with no ``crit`` extension (§4.1.11: an extension not understood must be
  refused), no unencoded payload (``b64``, RFC 7797) and a string ``kid`` if any;
* the HMAC-SHA256 of the signing input, compared in constant time (RFC 7518 §3.2);
* claims that are a JSON object; the required ones present; ``exp``, ``nbf`` and ``iat``
  NumericDates (RFC 7519 §2) that say the token is current, give or take ``leeway``; ``sub``
  and ``jti`` strings if present; no ``aud`` (a dev token is meant for no one else,
  RFC 7519 §4.1.3).

Hand-written on purpose: PyJWT, which issues these tokens and checks the JWKS and Firebase
ones, loads every asymmetric algorithm of ``cryptography`` when imported (X.509 names, EC,
EdDSA, SSH key parsing: about 20 ms of a function's cold start), while this check needs
``hmac`` and ``json`` only. The unit tests check it against tokens PyJWT makes.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["ExpiredToken", "InvalidToken", "verify_hs256"]

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class InvalidToken(Exception):
    """The token is malformed, forged or not acceptable; ``reason`` names the failed check
    (never anything the token carries)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExpiredToken(InvalidToken):
    """The token was valid once: its ``exp`` has passed."""

    def __init__(self) -> None:
        super().__init__("expired")


def _decode_segment(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise InvalidToken("malformed")
    try:
        return binascii.a2b_base64(
            segment.translate(_TO_STANDARD_ALPHABET) + "=" * (-len(segment) % 4),
            strict_mode=True,
        )
    except binascii.Error:
        raise InvalidToken("malformed") from None


_TO_STANDARD_ALPHABET = str.maketrans("-_", "+/")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise InvalidToken(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"{what} is not a JSON object")
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"{name} is not a NumericDate")
    return float(value)


def verify_hs256(
    token: str,
    secret: bytes,
    *,
    now: float,
    leeway: float,
    require: Iterable[str] = (),
) -> dict[str, Any]:
    """The claims of ``token`` if it is an HS256 JWT signed with ``secret`` and current at
    ``now`` (seconds since the epoch, ``leeway`` either way); else :class:`InvalidToken`
    (:class:`ExpiredToken` when only its time has passed)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed")
    header_segment, claims_segment, signature_segment = parts
    header = _json_object(_decode_segment(header_segment), "header")
    if header.get("alg") != "HS256":
        raise InvalidToken("algorithm not allowed")
    if "crit" in header or header.get("b64", True) is not True:
        raise InvalidToken("unsupported header parameter")
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidToken("kid is not a string")
    signature = _decode_segment(signature_segment)
    signing_input = f"{header_segment}.{claims_segment}".encode("ascii")
    expected = hmac.digest(secret, signing_input, hashlib.sha256)
    if not hmac.compare_digest(signature, expected):
        raise InvalidToken("signature mismatch")
    claims = _json_object(_decode_segment(claims_segment), "claims")
    for name in require:
        if claims.get(name) is None:
            raise InvalidToken(f"{name} missing")
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"{name} is not a string")
    if claims.get("aud"):
        raise InvalidToken("audience not allowed")
    issued = _numeric_date(claims, "iat")
    not_before = _numeric_date(claims, "nbf")
    expires = _numeric_date(claims, "exp")
    if (issued is not None and issued > now + leeway) or (
        not_before is not None and not_before > now + leeway
    ):
        raise InvalidToken("not yet valid")
    if expires is not None and expires <= now - leeway:
        raise ExpiredToken()
    return claims

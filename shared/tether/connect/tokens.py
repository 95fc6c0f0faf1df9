"""The connect session token: ``<session id>.<secret>``. Pure.

The id names the stored session (one read finds it, no index on a hash is needed); the secret
is 256 random bits of which the store keeps only the SHA-256, compared in constant time. The
``csess_`` prefix tells a session token from a tenant's JWT (``eyJ…``) at a glance, so the
frame sends each to its own verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = [
    "SESSION_PREFIX",
    "is_session_token",
    "secret_hash",
    "secret_matches",
    "split_token",
    "token_of",
]

SESSION_PREFIX = "csess"
_TOKEN = re.compile(r"^(csess_[A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{32,128})$")


def is_session_token(token: str) -> bool:
    return token.startswith(f"{SESSION_PREFIX}_")


def token_of(session_id: str, secret: str) -> str:
    return f"{session_id}.{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """``(session id, secret)``, or ``None`` for anything not shaped like a session token."""
    matched = _TOKEN.match(token)
    return None if matched is None else (matched.group(1), matched.group(2))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(expected_hash: str, secret: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), expected_hash)

"""Binding an OAuth flow to the browser that started it (login-CSRF / account-attach defence,
RFC 9700 §4.7 and §2.1: "bind the state to the user agent").

A flow started from a browser (a connect session) gets a random binder: the answer to the
start sets it as a cookie on the callback's path, and the state keeps only its SHA-256. The
callback refuses the flow unless the browser arriving there presents the cookie. An
authorization URL carried to another browser (a link sent to a victim, a second profile)
then completes nothing: that browser lacks the cookie, so no one can make a victim attach
their provider account to a connection someone else started.

The cookie's name carries a prefix of the state's hash, so flows started side by side in one
browser do not overwrite each other's binder. Pure: bytes in, bytes out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["COOKIE_PREFIX", "binder_hash", "cookie_name", "matches", "new_binder"]

COOKIE_PREFIX = "tether_oauth_"


def new_binder() -> str:
    return secrets.token_urlsafe(32)


def binder_hash(binder: str) -> str:
    return hashlib.sha256(binder.encode()).hexdigest()


def cookie_name(state_hash: str) -> str:
    return f"{COOKIE_PREFIX}{state_hash[:16]}"


def matches(expected_hash: str, presented: str | None) -> bool:
    """Whether the cookie a browser presented is the binder whose hash the state kept."""
    if not presented or len(presented) > 256:
        return False
    return hmac.compare_digest(binder_hash(presented), expected_hash)

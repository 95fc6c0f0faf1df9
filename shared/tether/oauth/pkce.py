"""PKCE (RFC 7636): code verifiers and their S256 challenges.

Hand-written on purpose: a library such as authlib would provide this, but it is not a
dependency of Tether, and the whole of it is a random string and one SHA-256 over
:mod:`hashlib`. Only the ``S256`` method is supported; ``plain`` offers no protection
against an intercepted authorization request and Tether never sends it.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string

__all__ = ["MAX_VERIFIER_LENGTH", "MIN_VERIFIER_LENGTH", "new_verifier", "s256_challenge"]

MIN_VERIFIER_LENGTH = 43
MAX_VERIFIER_LENGTH = 128

# RFC 7636 §4.1: code-verifier = 43*128unreserved; unreserved = ALPHA / DIGIT / "-" / "." /
# "_" / "~".
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def new_verifier(length: int = 64) -> str:
    """A fresh code verifier of ``length`` characters (43 to 128) drawn with :mod:`secrets` from
    the unreserved set: 64 characters carry about 380 bits of entropy."""
    if not MIN_VERIFIER_LENGTH <= length <= MAX_VERIFIER_LENGTH:
        raise ValueError(
            f"a PKCE verifier has {MIN_VERIFIER_LENGTH} to {MAX_VERIFIER_LENGTH} characters"
        )
    return "".join(secrets.choice(_UNRESERVED) for _ in range(length))


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding (RFC 7636 §4.2).

    Raises :class:`ValueError` when ``verifier`` is not 43 to 128 unreserved characters (the
    message never repeats the verifier)."""
    if not isinstance(verifier, str) or _VERIFIER.fullmatch(verifier) is None:
        raise ValueError(
            f"a PKCE verifier is {MIN_VERIFIER_LENGTH} to {MAX_VERIFIER_LENGTH} characters of "
            "A-Z a-z 0-9 - . _ ~"
        )
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

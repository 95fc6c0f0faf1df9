"""Injectable id generation. Ids are opaque and unguessable: a prefix plus 128 random bits."""

from __future__ import annotations

import re
import secrets
from typing import Protocol

__all__ = ["IdGenerator", "RandomIds", "SequentialIds", "is_well_formed"]

_ID_RE = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9_-]{8,64}$")


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...

    def token(self, nbytes: int = 32) -> str:
        """A URL-safe random token (webhook URLs, OAuth state, task tokens)."""
        ...


class RandomIds:
    def new(self, prefix: str) -> str:
        # 16 bytes = 128 bits of entropy, base32-like alphabet kept URL-safe.
        return f"{prefix}_{secrets.token_urlsafe(16).replace('-', 'x').replace('_', 'y')}"

    def token(self, nbytes: int = 32) -> str:
        return secrets.token_urlsafe(nbytes)


class SequentialIds:
    """Deterministic ids for tests."""

    def __init__(self) -> None:
        self._n = 0

    def new(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n:022d}"

    def token(self, nbytes: int = 32) -> str:
        self._n += 1
        return f"tok{self._n:0{max(nbytes, 8)}d}"


def is_well_formed(value: str) -> bool:
    """Cheap shape check before touching a store with a caller-supplied id."""
    return bool(_ID_RE.match(value))

"""The shapes the webhook pieces share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from tether.domain.errors import TetherError

__all__ = ["InboundRequest", "SignatureError", "SignatureScheme"]


@dataclass(frozen=True)
class InboundRequest:
    """A webhook delivery as received: the exact raw body, headers with lower-case names, and
    the public URL the sender called (some schemes sign it: Square, Twilio, HubSpot v3)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    received_at: datetime

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class SignatureError(TetherError):
    """The delivery is not provably from the sender: missing or malformed signature headers, a
    missing secret, a mismatch, or a timestamp outside the tolerance. ``reason`` is a short
    code for logs; the message never contains the secret or the expected signature."""

    default_status: ClassVar[int] = 401
    default_code: ClassVar[str] = "INVALID_SIGNATURE"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


class SignatureScheme(Protocol):
    """Verifies one provider's signature over the raw request, in constant time, failing
    closed. ``secrets`` may hold several (a rotation overlap): any one verifying is enough."""

    name: str

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None: ...

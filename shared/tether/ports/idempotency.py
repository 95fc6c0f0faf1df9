"""Idempotency keys of action runs (the ``Idempotency-Key`` header), per tenant. Its contract
suite is ``tests/contract/test_idempotency_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tether.domain.models import IdempotencyRecord

__all__ = ["IdempotencyKeys"]


@runtime_checkable
class IdempotencyKeys(Protocol):
    """A key is claimed before its run and completed with the run's answer after it; a key
    whose record has expired (``expires_at``) is free again."""

    def claim_idempotency_key(
        self, record: IdempotencyRecord, *, now: datetime
    ) -> IdempotencyRecord | None:
        """Store ``record`` (state ``pending``) under its tenant and key if the key is free or
        its record has expired, and return ``None``; otherwise store nothing and return the
        record that holds the key. Of racing claims of a free key exactly one wins."""
        ...

    def complete_idempotency_key(
        self, tenant_id: str, key: str, *, owner: str, answer: dict[str, Any], expires_at: datetime
    ) -> None:
        """Record the answer of the run ``owner`` claimed (state ``done``) until
        ``expires_at``; nothing when the key is no longer ``owner``'s."""
        ...

    def release_idempotency_key(self, tenant_id: str, key: str, *, owner: str) -> None:
        """Free a key ``owner`` claimed (its run failed before it changed anything for sure);
        nothing when the key is no longer ``owner``'s."""
        ...

"""Pending OAuth authorizations, single use. Their contract suite is
``tests/contract/test_oauth_state_contract.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from tether.domain.models import OAuthState, Page

__all__ = ["OAuthStateRepository"]


@runtime_checkable
class OAuthStateRepository(Protocol):
    """OAuth ``state`` records keyed by the state's hash. A state is written once, consumed
    once, and purged after its ``expires_at``
    (:meth:`~tether.ports.ExpiredRecordPurge.purge_expired`)."""

    def create_oauth_state(self, state: OAuthState) -> None:
        """Atomic create; :class:`~tether.domain.errors.Conflict` if the hash exists."""
        ...

    def consume_oauth_state(self, state_hash: str, *, now: datetime) -> OAuthState | None:
        """Atomically mark the state used (at ``now``) and return it *as it was before*: a
        caller sees ``used_at`` set when the state had already been consumed (a replay), and
        of racing consumers exactly one sees it unused. ``None`` when unknown. A stored
        state that no longer decodes is :class:`~tether.domain.errors.RecordUnreadable`."""
        ...

    def scan_oauth_states(self, *, cursor: str | None = None, limit: int = 200) -> Page[OAuthState]:
        """Every stored state, used and expired ones included until purged, in a fixed order
        of the backend's choosing; ``cursor`` (opaque) continues a previous page. For key
        rotation, which reseals the data of pending states. States that no longer decode are
        named in ``Page.unreadable``. A ``limit`` below 1 is
        :class:`~tether.domain.errors.InvalidRequest`."""
        ...

    def replace_oauth_state(self, state: OAuthState, *, expected: OAuthState) -> bool:
        """Write ``state`` over the stored state of the same hash, atomically, if that is
        still exactly ``expected`` and unused. ``False`` (nothing written) when it was
        consumed, purged or changed meanwhile. For key rotation: a state is single use, so
        nothing else ever rewrites one. Another hash than ``expected``'s is a
        :class:`ValueError` (a bug of the caller)."""
        ...

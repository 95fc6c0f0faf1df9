"""The connection status machine.

    pending ──► active ◄──► error
       │          │  ▲        │
       │          ▼  │        ▼
       └────► needs_reauth ◄──┘
    any ──► disabled (soft delete / operator) ──► (terminal for deleted records)

``pending`` waits for an OAuth authorization or a first credential; ``needs_reauth`` means the
provider refused the stored grant and only the user can fix it; ``error`` is a failure Tether may
recover from by itself (a later test or refresh that succeeds).
"""

from __future__ import annotations

from enum import StrEnum

from tether.domain.errors import Conflict

__all__ = ["ConnectionStatus", "check_transition"]


class ConnectionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"


_ALLOWED: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    ConnectionStatus.PENDING: frozenset(
        {ConnectionStatus.ACTIVE, ConnectionStatus.ERROR, ConnectionStatus.NEEDS_REAUTH}
    ),
    ConnectionStatus.ACTIVE: frozenset(
        {ConnectionStatus.ERROR, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.PENDING}
    ),
    ConnectionStatus.ERROR: frozenset(
        {ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.PENDING}
    ),
    ConnectionStatus.NEEDS_REAUTH: frozenset({ConnectionStatus.ACTIVE, ConnectionStatus.PENDING}),
    ConnectionStatus.DISABLED: frozenset({ConnectionStatus.PENDING, ConnectionStatus.ACTIVE}),
}


def check_transition(current: ConnectionStatus, new: ConnectionStatus) -> None:
    """Raise :class:`Conflict` unless ``current → new`` is allowed.

    Staying in the same state is always allowed; any state may go to ``disabled``.
    """
    if new == current or new == ConnectionStatus.DISABLED:
        return
    if new not in _ALLOWED[current]:
        raise Conflict(
            f"a connection cannot go from {current.value} to {new.value}",
            code="INVALID_STATUS_TRANSITION",
        )

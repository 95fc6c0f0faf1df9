"""The kinds of connection lifecycle event (:mod:`tether.connections.events` publishes them).

A module of their own so that naming an event type does not load the publisher: the
connection service names them, and a function that only reads connections never publishes.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConnectionEvent"]


class ConnectionEvent(StrEnum):
    CREATED = "connection.created"
    CREDENTIALS_UPDATED = "connection.credentials_updated"
    RECONNECTED = "connection.reconnected"
    NEEDS_REAUTH = "connection.needs_reauth"
    RECOVERED = "connection.recovered"
    DELETED = "connection.deleted"

"""The connections webhook deliveries name by token, kept per instance for a few seconds: a
busy URL then costs its connection's read (and decode; on Firestore two round trips) once
every few seconds instead of once per delivery.

What a kept connection may miss, and why that is safe:

- a change made through this instance's store (an update, a delete, a new webhook URL, new
  credentials): nothing. The store counts its connection writes
  (:meth:`~tether.ports.ConnectionRepository.connection_writes`) and an entry kept before the
  count moved is read again.
- a change made by another instance: for at most ``ttl`` seconds. A deleted connection's
  events are still stored and queued, and then dropped by processing, which reads the
  connection again; a replaced webhook URL still answers (its deliveries' signatures are
  still checked); new signing credentials never make a genuine delivery fail, since intake
  verifies a delivery its kept connection refuses again with the connection read afresh
  (:meth:`WebhookConnections.fresh`), while the old secret may verify for up to ``ttl``.

A token that names no connection is not kept: a sender trying tokens must not fill the cache.
"""

from __future__ import annotations

from collections.abc import Callable

from tether.domain.models import Connection
from tether.ttl_cache import TtlCache

__all__ = ["WebhookConnections"]


class WebhookConnections:
    """``find(token_hash)``: the store's lookup; ``writes()``: the store's count of its
    connection writes; ``now()``: seconds, for the entries' lifetime."""

    def __init__(
        self,
        *,
        find: Callable[[str], Connection | None],
        writes: Callable[[], int],
        ttl_seconds: float,
        size: int,
        now: Callable[[], float],
    ) -> None:
        self._find = find
        self._writes = writes
        self._kept: TtlCache[str, tuple[int, Connection]] = TtlCache(
            ttl=ttl_seconds, size=size, now=now
        )

    def find(self, token_hash: str) -> Connection | None:
        """The live connection holding ``token_hash`` (kept, or read and kept)."""
        writes = self._writes()  # before the read: a write after it makes the entry old
        kept = self._kept.get(token_hash)
        if kept is not None and kept[0] == writes:
            return kept[1]
        return self._read(token_hash, writes)

    def fresh(self, token_hash: str) -> Connection | None:
        """The connection as the store has it now (and kept as such)."""
        return self._read(token_hash, self._writes())

    def _read(self, token_hash: str, writes: int) -> Connection | None:
        found = self._find(token_hash)
        if found is None or found.deleted_at is not None:
            self._kept.discard(token_hash)
            return None
        self._kept.put(token_hash, (writes, found))
        return found

"""How many writes of one kind of record a store has committed in this process: what an
in-process cache of those records compares to know that what it kept may be old
(:meth:`~tether.ports.ConnectionRepository.connection_writes`)."""

from __future__ import annotations

import threading

__all__ = ["WriteCount"]


class WriteCount:
    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def add(self) -> None:
        """One more write, counted once it is committed (never before: a reader that saw the
        count and then read the record must not keep the record as current)."""
        with self._lock:
            self._value += 1

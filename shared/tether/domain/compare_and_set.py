"""One way to retry a read-modify-write of a versioned record: :func:`compare_and_set`.

Every change to a connection, tenant settings or an OAuth state is optimistic: read, decide,
write with the version read; a concurrent writer makes the write raise
:class:`~tether.domain.errors.VersionConflict`, and the whole attempt runs again on a fresh
read. Hand-written rather than a retry library's: a conflict is retried at once (the other
writer has finished; sleeping only widens the window), and running out of attempts ends one
way everywhere — :class:`Contended`, a retryable
:class:`~tether.domain.errors.BackendUnavailable` (503, ``CONTENDED``), so an HTTP caller or
the task queue tries again later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tether.domain.errors import BackendUnavailable, VersionConflict

__all__ = ["ATTEMPTS", "Contended", "compare_and_set"]

ATTEMPTS = 5


class Contended(BackendUnavailable):
    """Every attempt met a concurrent writer (retryable, 503)."""

    default_code = "CONTENDED"


T = TypeVar("T")


def compare_and_set(attempt: Callable[[bool], T], *, what: str, attempts: int = ATTEMPTS) -> T:
    """``attempt(again)`` until it returns without a :class:`VersionConflict`. ``again`` is
    ``False`` the first time (the caller may use a record it has just read) and ``True`` after
    a conflict (read afresh). ``what`` names the record in the error when attempts run out."""
    for number in range(attempts):
        try:
            return attempt(number > 0)
        except VersionConflict:
            continue
    raise Contended(f"{what} is being changed concurrently; try again")

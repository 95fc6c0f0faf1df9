"""Parts of a warm instance built once, on first use, by whichever thread asks first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["lazy"]

T = TypeVar("T")


class lazy(Generic[T]):  # noqa: N801 - reads like the decorator it is
    """``functools.cached_property`` with a lock: two threads of a warm instance never build
    the same client twice (Python 3.12 dropped the lock from ``cached_property``). The owner
    keeps a ``threading.RLock`` as ``_lock``: re-entrant, since a part builds the parts it
    uses while the lock is held."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            raise AttributeError(self._name)
        try:
            return obj.__dict__[self._name]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with obj._lock:
            if self._name not in obj.__dict__:
                obj.__dict__[self._name] = self._build(obj)
            return obj.__dict__[self._name]  # type: ignore[no-any-return]

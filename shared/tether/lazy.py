"""Parts of a warm instance built once, on first use, by whichever thread asks first; and a
package's names imported from their modules on first use (PEP 562)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["lazy", "lazy_names"]

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


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: a name of ``homes`` is imported from its
    module (``homes[name]``, absolute) when first asked for, then kept in the package."""
    namespace = sys.modules[package].__dict__

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return getattr_

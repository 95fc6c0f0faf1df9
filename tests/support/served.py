"""The fixtures' factories of loopback emulators (OAuth provider, sample API)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

from tether_emulators.wsgi_server import ServedEmulator

E = TypeVar("E", bound=ServedEmulator)


def emulator_factory(kind: Callable[..., E]) -> Iterator[Callable[..., E]]:
    """For a fixture to yield from: ``kind(**options)``, started on a free loopback port; all
    the emulators it started are stopped after the test."""
    with ExitStack() as running:

        def start(**options: Any) -> E:
            return running.enter_context(kind(**options))

        yield start

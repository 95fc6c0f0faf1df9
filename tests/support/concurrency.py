"""Running calls at once, for the tests of races (one winner, one refresh, one secret)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


def together(calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    """Run ``calls`` at once (each on its own thread, released by one barrier); their futures,
    in the order of ``calls``, all done."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:  # waits for all on exit
        return [pool.submit(run, call) for call in calls]

"""Running calls at once, for the tests of races (one winner, one refresh, one secret)."""

from __future__ import annotations

import threading
import time
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


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` every 10 ms until it holds (``True``) or ``timeout`` seconds pass
    (``False``): for what another thread does in its own time."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True

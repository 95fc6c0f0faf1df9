"""What the ``tasks`` function answers Cloud Tasks and Cloud Scheduler."""

from __future__ import annotations

from tether.api.schemas.body import Body, ErrorDetail

__all__ = ["TaskAnswer"]


class TaskAnswer(Body):
    """``ok``; on failure the error, and ``retry: false`` when the queue must not retry."""

    omitted_when_none = frozenset({"retry", "error"})

    ok: bool
    retry: bool | None = None
    error: ErrorDetail | None = None

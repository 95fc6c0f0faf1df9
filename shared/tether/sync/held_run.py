"""A task's hold on a run: the run as last saved and its checkpoint in memory, saved by
compare-and-set so that a task that lost the run (another copy claimed it, a stale worker)
stops instead of overwriting a newer checkpoint."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tether.domain.errors import InvalidRequest, VersionConflict
from tether.domain.sync_runs import SyncRun
from tether.ports import SyncStateStore
from tether.sync.checkpoint import Checkpoint

__all__ = ["HeldRun", "Superseded", "checkpoint_of"]


class Superseded(Exception):
    """Another task saved the run since this one read it: this one stops."""


class HeldRun:
    """One task's hold on a run: the run as last saved and its checkpoint in memory."""

    def __init__(self, state: SyncStateStore, run: SyncRun, checkpoint: Checkpoint) -> None:
        self._state = state
        self.run = run
        self.checkpoint = checkpoint

    def save(self, **changes: Any) -> None:
        run = self.run.model_copy(update={**changes, "checkpoint": self.checkpoint.to_json()})
        try:
            self.run = self._state.save_run(run, expected_version=self.run.version)
        except VersionConflict:
            raise Superseded from None


def checkpoint_of(run: SyncRun) -> Checkpoint:
    if run.checkpoint is None:
        return Checkpoint()
    try:
        return Checkpoint.model_validate(run.checkpoint)
    except ValidationError:
        raise InvalidRequest(
            "the run's checkpoint is not readable", code="INVALID_CHECKPOINT"
        ) from None

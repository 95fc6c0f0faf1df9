"""The Firestore sync state saves a run it wrote last without reading it first (the
``update_time`` its write returned is the precondition), and that shortcut never lets a stale
writer through: another instance's save since makes the precondition fail, and the save then
reads the run and refuses as any other stale save is refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from tests.contract.records import T0
from tether.domain.errors import InvalidRequest, VersionConflict
from tether.domain.sync_runs import RunStatus, SyncRun

if TYPE_CHECKING:
    from google.cloud import firestore

    from tether.adapters.firestore.sync_state import FirestoreSyncState


def _state(client: firestore.Client) -> FirestoreSyncState:
    from tether.adapters.firestore import FirestoreDatabase
    from tether.adapters.firestore.sync_state import FirestoreSyncState

    return FirestoreSyncState(FirestoreDatabase(client))


def _run(run_id: str) -> SyncRun:
    return SyncRun.model_validate(
        {
            "id": run_id,
            "tenant_id": "t1",
            "connection_id": "conn_1",
            "sync": "invoices",
            "created_at": T0,
        }
    )


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the documents read one by one from here on."""
    from google.cloud.firestore_v1.document import DocumentReference

    seen: list[str] = []
    real: Callable[..., Any] = DocumentReference.get

    def get(self: DocumentReference, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.path)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DocumentReference, "get", get)
    return seen


def test_a_run_this_instance_wrote_is_saved_without_a_read(
    firestore_client: firestore.Client, reads: list[str]
) -> None:
    state = _state(firestore_client)
    run = state.start_run(_run("run_1")).run
    running = state.save_run(
        run.model_copy(update={"status": RunStatus.RUNNING, "started_at": T0}), expected_version=1
    )
    checkpointed = state.save_run(
        running.model_copy(update={"checkpoint": {"cursor": "p2"}}), expected_version=2
    )
    assert not [path for path in reads if path.endswith("/sync_runs/run_1")]
    assert state.get_run("t1", "conn_1", "run_1") == checkpointed
    done = state.save_run(
        checkpointed.model_copy(update={"status": RunStatus.SUCCEEDED, "finished_at": T0}),
        expected_version=3,
    )
    assert state.active_run("t1", "conn_1", "invoices") is None  # the hold went with it
    with pytest.raises(InvalidRequest):  # finished for good, known without a read too
        state.save_run(
            done.model_copy(update={"status": RunStatus.RUNNING}), expected_version=done.version
        )


def test_a_save_by_another_instance_since_is_never_overwritten(
    firestore_client: firestore.Client,
) -> None:
    first, second = _state(firestore_client), _state(firestore_client)
    run = first.start_run(_run("run_2")).run
    # another instance (a task's retry elsewhere) claims the run at version 1
    claimed = second.save_run(
        run.model_copy(update={"status": RunStatus.RUNNING, "checkpoint": {"owner": "b"}}),
        expected_version=1,
    )
    # the first still remembers version 1 as its own last write: its precondition fails, it
    # reads the run, and refuses
    with pytest.raises(VersionConflict):
        first.save_run(
            run.model_copy(update={"status": RunStatus.RUNNING, "checkpoint": {"owner": "a"}}),
            expected_version=1,
        )
    assert first.get_run("t1", "conn_1", "run_2") == claimed
    # and, having read it, saves the version it now knows
    finished = first.save_run(
        claimed.model_copy(update={"status": RunStatus.FAILED, "finished_at": T0}),
        expected_version=2,
    )
    assert second.get_run("t1", "conn_1", "run_2") == finished

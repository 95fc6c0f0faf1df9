"""The SyncStateStore contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.records import T0
from tests.support.concurrency import together
from tether.domain.errors import Conflict, InvalidRequest, NotFound, VersionConflict
from tether.domain.sync_runs import RunStatus, StartedRun, SyncRun, SyncSchedule
from tether.ports import ConnectionStore, SyncStateStore


def _sync(
    name: str = "invoices", tenant: str = "t1", connection: str = "conn_1", **extra: object
) -> SyncSchedule:
    fields: dict[str, object] = {
        "tenant_id": tenant,
        "connection_id": connection,
        "name": name,
        "updated_at": T0,
    }
    fields.update(extra)
    return SyncSchedule.model_validate(fields)


def _run(
    run_id: str, sync: str = "invoices", *, minutes: int = 0, tenant: str = "t1", **extra: object
) -> SyncRun:
    fields: dict[str, object] = {
        "id": run_id,
        "tenant_id": tenant,
        "connection_id": "conn_1",
        "sync": sync,
        "created_at": T0 + timedelta(minutes=minutes),
    }
    fields.update(extra)
    return SyncRun.model_validate(fields)


def _finish(
    sync_state: SyncStateStore, run: SyncRun, status: RunStatus = RunStatus.SUCCEEDED
) -> SyncRun:
    return sync_state.save_run(
        run.model_copy(update={"status": status, "finished_at": T0}), expected_version=run.version
    )


def test_a_sync_round_trips_by_compare_and_set(sync_state: SyncStateStore) -> None:
    assert sync_state.get_sync("t1", "conn_1", "invoices") is None
    with pytest.raises(VersionConflict):  # nothing to update
        sync_state.put_sync(_sync(), expected_version=1)
    definition = {
        "model": "Invoice",
        "request": {"path": "/invoices"},
        "nested": [[1, {"a": None}]],
    }
    first = sync_state.put_sync(
        _sync(frequency="1h", definition=definition, watermark="2026-03-01T00:00:00Z"),
        expected_version=None,
    )
    assert first.version == 1
    assert sync_state.get_sync("t1", "conn_1", "invoices") == first
    with pytest.raises(VersionConflict):  # a second create
        sync_state.put_sync(_sync(), expected_version=None)
    second = sync_state.put_sync(
        first.model_copy(update={"enabled": False, "paused_reason": "needs_reauth"}),
        expected_version=1,
    )
    assert second.version == 2
    with pytest.raises(VersionConflict):  # stale
        sync_state.put_sync(first.model_copy(update={"frequency": "5m"}), expected_version=1)
    assert sync_state.get_sync("t1", "conn_1", "invoices") == second


def test_syncs_are_listed_by_name_per_connection_and_tenant(sync_state: SyncStateStore) -> None:
    for name in ("orders", "customers", "invoices"):
        sync_state.put_sync(_sync(name), expected_version=None)
    sync_state.put_sync(_sync("other", connection="conn_2"), expected_version=None)
    sync_state.put_sync(_sync("theirs", tenant="t2"), expected_version=None)
    assert [s.name for s in sync_state.list_syncs("t1", "conn_1")] == [
        "customers",
        "invoices",
        "orders",
    ]
    assert [s.name for s in sync_state.list_syncs("t2", "conn_1")] == ["theirs"]
    assert sync_state.get_sync("t2", "conn_1", "orders") is None
    assert sync_state.list_syncs("t3", "conn_1") == []


def test_due_syncs_across_tenants_earliest_first(sync_state: SyncStateStore) -> None:
    now = T0 + timedelta(hours=1)
    due = [
        _sync("b", tenant="t2", next_run_at=now - timedelta(minutes=5)),
        _sync("a", next_run_at=now - timedelta(minutes=30)),
        _sync("c", tenant="x/y", next_run_at=now),
    ]
    not_due = [
        _sync("later", next_run_at=now + timedelta(seconds=1)),
        _sync("off", enabled=False, next_run_at=now - timedelta(hours=1)),
        _sync("paused", paused_reason="needs_reauth", next_run_at=now - timedelta(hours=1)),
        _sync("unscheduled"),
    ]
    for sync in due + not_due:
        sync_state.put_sync(sync, expected_version=None)
    assert [s.name for s in sync_state.list_due_syncs(now=now)] == ["a", "b", "c"]
    assert [s.name for s in sync_state.list_due_syncs(now=now, limit=2)] == ["a", "b"]
    # scheduled again for later: no longer due; resumed: due
    a = sync_state.get_sync("t1", "conn_1", "a")
    assert a is not None
    sync_state.put_sync(
        a.model_copy(update={"next_run_at": now + timedelta(hours=1)}), expected_version=1
    )
    paused = sync_state.get_sync("t1", "conn_1", "paused")
    assert paused is not None
    sync_state.put_sync(paused.model_copy(update={"paused_reason": None}), expected_version=1)
    assert [s.name for s in sync_state.list_due_syncs(now=now)] == ["paused", "b", "c"]
    with pytest.raises(InvalidRequest):
        sync_state.list_due_syncs(now=now, limit=0)


def test_one_active_run_per_sync(sync_state: SyncStateStore) -> None:
    first = sync_state.start_run(_run("run_1"))
    assert first == StartedRun(started=True, run=_run("run_1"))
    refused = sync_state.start_run(_run("run_2", minutes=1))
    assert not refused.started and refused.run.id == "run_1"
    assert sync_state.get_run("t1", "conn_1", "run_2") is None
    # another sync of the connection, or another tenant's, runs at the same time
    assert sync_state.start_run(_run("run_3", sync="orders")).started
    assert sync_state.start_run(_run("run_4", tenant="t2")).started
    active = sync_state.active_run("t1", "conn_1", "invoices")
    assert active is not None and active.id == "run_1"
    _finish(sync_state, first.run, RunStatus.FAILED)
    assert sync_state.active_run("t1", "conn_1", "invoices") is None
    assert sync_state.start_run(_run("run_5", minutes=2, status=RunStatus.RUNNING)).started


def test_a_run_id_is_stored_once_and_starts_active(sync_state: SyncStateStore) -> None:
    run = sync_state.start_run(_run("run_1")).run
    _finish(sync_state, run)
    with pytest.raises(Conflict):
        sync_state.start_run(_run("run_1"))
    with pytest.raises(InvalidRequest):
        sync_state.start_run(_run("run_2", status=RunStatus.SUCCEEDED))
    with pytest.raises(InvalidRequest):
        sync_state.start_run(_run("run_3", version=2))


def test_racing_starts_have_one_winner(sync_state: SyncStateStore) -> None:
    outcomes = [
        f.result()
        for f in together([lambda i=i: sync_state.start_run(_run(f"run_{i}")) for i in range(8)])
    ]
    winners = [o.run.id for o in outcomes if o.started]
    assert len(winners) == 1
    assert {o.run.id for o in outcomes} == set(winners)
    assert [r.id for r in sync_state.list_runs("t1", "conn_1", "invoices")] == winners


def test_a_checkpoint_is_saved_by_compare_and_set(sync_state: SyncStateStore) -> None:
    run = sync_state.start_run(_run("run_1")).run
    running = sync_state.save_run(
        run.model_copy(update={"status": RunStatus.RUNNING, "started_at": T0}), expected_version=1
    )
    assert running.version == 2
    page_2 = sync_state.save_run(
        running.model_copy(update={"checkpoint": {"cursor": "p2", "phase": "pages"}, "added": 200}),
        expected_version=2,
    )
    # a stale worker, still at version 2, cannot put its older checkpoint back
    with pytest.raises(VersionConflict):
        sync_state.save_run(
            running.model_copy(update={"checkpoint": {"cursor": "p1"}}), expected_version=2
        )
    stored = sync_state.get_run("t1", "conn_1", "run_1")
    assert stored == page_2 and stored.checkpoint == {"cursor": "p2", "phase": "pages"}
    done = _finish(sync_state, page_2)
    with pytest.raises(InvalidRequest):  # finished for good
        sync_state.save_run(
            done.model_copy(update={"status": RunStatus.RUNNING}), expected_version=done.version
        )
    with pytest.raises(NotFound):
        sync_state.save_run(_run("run_unknown"), expected_version=1)
    assert sync_state.get_run("t2", "conn_1", "run_1") is None


def test_runs_are_listed_newest_first(sync_state: SyncStateStore) -> None:
    for i in range(5):
        run = sync_state.start_run(_run(f"run_{i}", minutes=i)).run
        _finish(sync_state, run)
    run = sync_state.start_run(_run("run_tie", minutes=4)).run
    sync_state.start_run(_run("run_other", sync="orders", minutes=9))
    assert [r.id for r in sync_state.list_runs("t1", "conn_1", "invoices")] == [
        "run_tie",
        "run_4",
        "run_3",
        "run_2",
        "run_1",
        "run_0",
    ]
    assert [r.id for r in sync_state.list_runs("t1", "conn_1", "invoices", limit=2)] == [
        "run_tie",
        "run_4",
    ]
    assert sync_state.list_runs("t2", "conn_1", "invoices") == []
    with pytest.raises(InvalidRequest):
        sync_state.list_runs("t1", "conn_1", "invoices", limit=0)


def test_deleting_a_connections_syncs_goes_in_chunks(sync_state: SyncStateStore) -> None:
    for name in ("a", "b", "c"):
        sync_state.put_sync(_sync(name), expected_version=None)
        sync_state.start_run(_run(f"run_{name}", sync=name))
    sync_state.put_sync(_sync("keep", connection="conn_2"), expected_version=None)
    removed = []
    while (n := sync_state.delete_connection_syncs("t1", "conn_1", limit=2)) > 0:
        assert n <= 2
        removed.append(n)
    assert sum(removed) == 6
    assert sync_state.list_syncs("t1", "conn_1") == []
    assert sync_state.get_run("t1", "conn_1", "run_a") is None
    assert sync_state.active_run("t1", "conn_1", "a") is None
    assert sync_state.start_run(_run("run_again", sync="a")).started
    assert [s.name for s in sync_state.list_syncs("t1", "conn_2")] == ["keep"]


def test_the_backends_facade_serves_the_same_syncs(
    store: ConnectionStore, sync_state: SyncStateStore
) -> None:
    assert isinstance(store, SyncStateStore)
    store.put_sync(_sync("via_facade"), expected_version=None)
    assert [s.name for s in sync_state.list_syncs("t1", "conn_1")] == ["via_facade"]
    assert store.start_run(_run("run_1", sync="via_facade")).started
    assert not sync_state.start_run(_run("run_2", sync="via_facade")).started

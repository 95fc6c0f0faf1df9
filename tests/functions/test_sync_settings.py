"""A connection's syncs through the ``syncs`` function: catalog syncs are listed and off until
enabled; a tenant's own definition is checked field by field (400 with every wrong field),
and accepted on the generic API connections only;
the scheduler path (the ``sync_due`` task) starts due syncs once per interval; a connection
that needs reauthorization pauses its syncs and a reconnect resumes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.functions.test_sync_flow import ACME, DEFINITION, TOTAL, Stack, Ticking
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.connections.events import ConnectionEvent
from tether.domain.clock import FixedClock
from tether.domain.sync_runs import MAX_SYNCS
from tether_emulators.dataset_api import DatasetApi

STRIPE_KEY = "sk_test_51TetherSyncSettings0123456789abcdef"


@pytest.fixture
def api() -> Iterator[DatasetApi]:
    with DatasetApi(clock=Ticking()) as started:
        started.dataset("invoices").add(TOTAL)
        yield started


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def stack(settings: Settings, api: DatasetApi, clock: FixedClock) -> Iterator[Stack]:
    update = {"egress_allowlist": f"127.0.0.1:{api.port}"}
    container = Container(settings.model_copy(update=update), clock=clock)
    reset_container(container)
    yield Stack(container)
    reset_container(None)
    container.close()


def _runs(stack: Stack, connection_id: str) -> list[dict[str, Any]]:
    body = stack.syncs.get(f"/{connection_id}/invoices/runs", headers=ACME).get_json()
    return list(body["runs"])


def test_catalog_syncs_are_listed_and_off_until_enabled(stack: Stack) -> None:
    created = stack.connections.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": STRIPE_KEY}}, headers=ACME
    )
    connection_id = created.get_json()["id"]
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    assert [s["name"] for s in listed] == ["charges", "customers", "invoices", "subscriptions"]
    assert {(s["enabled"], s["status"], s["custom"]) for s in listed} == {
        (False, "disabled", False)
    }
    assert listed[1]["model"] == "Customer" and listed[1]["frequency"] == "1h"

    enabled = stack.syncs.put(
        f"/{connection_id}/customers", json={"enabled": True, "frequency": "15m"}, headers=ACME
    )
    assert enabled.status_code == 200, enabled.get_json()
    body = enabled.get_json()
    assert (body["enabled"], body["frequency"], body["status"]) == (True, "15m", "scheduled")
    assert body["next_run_at"] is not None

    refused = stack.syncs.put(f"/{connection_id}/customers", json=DEFINITION, headers=ACME)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["details"]["errors"][0]["field"] == "definition"
    missing = stack.syncs.get(f"/{connection_id}/nope", headers=ACME)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "SYNC_NOT_FOUND"


def test_a_custom_definition_is_checked_field_by_field(stack: Stack, api: DatasetApi) -> None:
    connection_id = stack.connect(api)
    wrong = {
        **DEFINITION,
        "frequency": "10s",
        "deletes": "sometimes",
        "pagination": {"type": "cursor", "cursor_path": "next"},
    }
    answer = stack.syncs.put(f"/{connection_id}/invoices", json=wrong, headers=ACME)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "INVALID_SYNC"
    fields = {problem["field"] for problem in error["details"]["errors"]}
    assert {"frequency", "deletes", "pagination.cursor_param"} <= fields
    bad_name = stack.syncs.put(f"/{connection_id}/Not-A-Name", json=DEFINITION, headers=ACME)
    assert bad_name.status_code == 400
    no_definition = stack.syncs.put(f"/{connection_id}/other", json={"enabled": True}, headers=ACME)
    assert no_definition.status_code == 400
    bad_type = stack.syncs.put(f"/{connection_id}/invoices", json={"enabled": "yes"}, headers=ACME)
    assert bad_type.status_code == 400


def test_a_custom_definition_is_refused_on_a_catalog_provider(stack: Stack) -> None:
    created = stack.connections.post(
        "/", json={"provider": "stripe", "credentials": {"api_key": STRIPE_KEY}}, headers=ACME
    )
    connection_id = created.get_json()["id"]
    refused = stack.syncs.put(f"/{connection_id}/mine", json=DEFINITION, headers=ACME)
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["code"] == "CUSTOM_SYNC_NOT_SUPPORTED"
    assert "rest_api and graphql_api" in error["message"]
    assert error["details"]["errors"][0]["field"] == "definition"
    assert STRIPE_KEY not in refused.get_data(as_text=True)
    # Nothing was written, and the catalog's syncs stay settable by {enabled, frequency}.
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    assert "mine" not in {s["name"] for s in listed}
    assert stack.syncs.get(f"/{connection_id}/mine", headers=ACME).status_code == 404
    enabled = stack.syncs.put(
        f"/{connection_id}/charges", json={"enabled": True, "frequency": "1h"}, headers=ACME
    )
    assert enabled.status_code == 200, enabled.get_json()
    # A GraphQL connection takes one, like a REST one.
    graphql = stack.connections.post(
        "/",
        json={
            "provider": "graphql_api",
            "config": {"endpoint": "https://api.example.com/graphql", "auth_method": "none"},
        },
        headers=ACME,
    )
    assert graphql.status_code == 201, graphql.get_json()
    written = stack.syncs.put(f"/{graphql.get_json()['id']}/mine", json=DEFINITION, headers=ACME)
    assert written.status_code == 200, written.get_json()
    assert written.get_json()["custom"] is True


def test_the_scheduler_path_starts_due_syncs_once_per_interval(
    stack: Stack, api: DatasetApi, clock: FixedClock
) -> None:
    connection_id = stack.connect(api)
    assert (
        stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME).status_code
        == 200
    )
    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()
    [first] = _runs(stack, connection_id)
    assert (first["status"], first["added"]) == ("succeeded", TOTAL)

    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()
    assert len(_runs(stack, connection_id)) == 1  # not due again before its hour

    api.dataset("invoices").update([5])
    clock.advance(3601)
    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()
    latest = _runs(stack, connection_id)[0]
    assert (latest["full"], latest["added"], latest["updated"]) == (False, 0, 1)


def test_needs_reauth_pauses_the_syncs_and_a_reconnect_resumes_them(
    stack: Stack, api: DatasetApi, clock: FixedClock
) -> None:
    connection_id = stack.connect(api)
    stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    connection = stack.container.store.get_connection("acme", connection_id)
    assert connection is not None

    stack.container.connection_events.publish(ConnectionEvent.NEEDS_REAUTH, connection)
    synced = stack.syncs.get(f"/{connection_id}/invoices", headers=ACME).get_json()
    assert (synced["status"], synced["paused_reason"]) == ("paused", "needs_reauth")
    clock.advance(7200)
    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()
    assert _runs(stack, connection_id) == []

    stack.container.connection_events.publish(ConnectionEvent.RECOVERED, connection)
    resumed = stack.syncs.get(f"/{connection_id}/invoices", headers=ACME).get_json()
    assert (resumed["status"], resumed["paused_reason"]) == ("scheduled", None)
    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()
    [run] = _runs(stack, connection_id)
    assert (run["status"], run["added"]) == ("succeeded", TOTAL)


def test_a_run_whose_task_was_lost_goes_on_when_asked_again(
    stack: Stack, api: DatasetApi, clock: FixedClock
) -> None:
    from tether.domain.sync_runs import SyncRun

    connection_id = stack.connect(api)
    stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    lost = SyncRun(
        id="run_lost0000000000000000",
        tenant_id="acme",
        connection_id=connection_id,
        sync="invoices",
        full=True,
        created_at=clock.now(),
    )
    assert stack.container.sync_state.start_run(lost).started  # and no task: it was lost

    again = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
    assert again.status_code == 409
    stack.run_tasks()
    assert _runs(stack, connection_id)[0]["status"] == "queued"  # not stale yet: left alone

    clock.advance(3600)
    again = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
    assert again.get_json()["error"]["details"]["run_id"] == lost.id
    stack.run_tasks()
    [run] = _runs(stack, connection_id)
    assert (run["id"], run["status"], run["added"]) == (lost.id, "succeeded", TOTAL)


def test_a_connection_holds_at_most_as_many_syncs_as_it_lists(
    stack: Stack, api: DatasetApi
) -> None:
    connection_id = stack.connect(api)
    quiet = {**DEFINITION, "enabled": False}
    for number in range(MAX_SYNCS):
        put = stack.syncs.put(f"/{connection_id}/s{number:03d}", json=quiet, headers=ACME)
        assert put.status_code == 200, put.get_json()

    one_more = stack.syncs.put(f"/{connection_id}/zzz", json=DEFINITION, headers=ACME)

    assert one_more.status_code == 409, one_more.get_json()
    assert one_more.get_json()["error"]["code"] == "TOO_MANY_SYNCS"
    assert stack.syncs.get(f"/{connection_id}/zzz", headers=ACME).status_code == 404
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    assert len(listed) == MAX_SYNCS
    # A sync the connection holds is still changed.
    again = stack.syncs.put(f"/{connection_id}/s499", json={"frequency": "1d"}, headers=ACME)
    assert again.status_code == 200 and again.get_json()["frequency"] == "1d"


def test_a_definitions_request_is_bounded_as_a_fetch_is(stack: Stack, api: DatasetApi) -> None:
    connection_id = stack.connect(api)
    post = {
        **DEFINITION,
        "request": {"path": "/invoices/cursor", "method": "POST", "body": {"q": "x" * 40_000}},
    }
    too_large = stack.syncs.put(f"/{connection_id}/big_body", json=post, headers=ACME)
    assert too_large.status_code == 400, too_large.get_json()
    error = too_large.get_json()["error"]
    assert error["code"] == "INVALID_SYNC"
    assert error["details"]["errors"][0]["field"] == "request.body"
    assert "x" * 100 not in json.dumps(error)

    params = {f"p{number}": "y" * 100 for number in range(200)}
    many = {**DEFINITION, "request": {"path": "/invoices/cursor", "params": params}}
    refused = stack.syncs.put(f"/{connection_id}/big_params", json=many, headers=ACME)
    assert refused.status_code == 400, refused.get_json()
    assert refused.get_json()["error"]["details"]["errors"][0]["field"] == "request.params"
    assert stack.syncs.get(f"/{connection_id}/big_body", headers=ACME).status_code == 404


def test_a_stored_definition_that_no_longer_reads_leaves_the_due_syncs(
    stack: Stack, api: DatasetApi, clock: FixedClock
) -> None:
    # A definition stored before a rule it breaks (a larger body, a hook since removed): the
    # scheduler cannot start it, and must not find it due on every tick (the first hundred
    # due would then hold every other tenant's syncs back).
    connection_id = stack.connect(api)
    put = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert put.status_code == 200, put.get_json()
    state = stack.container.sync_state
    stored = state.get_sync("acme", connection_id, "invoices")
    assert stored is not None and stored.definition is not None
    unreadable = {**stored.definition, "hooks": {"request": "no_such_hook"}}
    state.put_sync(
        stored.model_copy(update={"definition": unreadable}), expected_version=stored.version
    )

    stack.container.dispatch_task("sync_due", {})
    stack.run_tasks()

    assert state.list_runs("acme", connection_id, "invoices") == []
    assert state.list_due_syncs(now=clock.now()) == []
    # Written again, it is due again.
    again = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert again.status_code == 200 and again.get_json()["next_run_at"] is not None
    assert [s.name for s in state.list_due_syncs(now=clock.now())] == ["invoices"]


def test_a_run_whose_definition_no_longer_reads_ends_failed(stack: Stack, api: DatasetApi) -> None:
    connection_id = stack.connect(api)
    put = stack.syncs.put(f"/{connection_id}/invoices", json=DEFINITION, headers=ACME)
    assert put.status_code == 200, put.get_json()
    started = stack.syncs.post(f"/{connection_id}/invoices/run", headers=ACME)
    assert started.status_code == 202, started.get_json()
    state = stack.container.sync_state
    stored = state.get_sync("acme", connection_id, "invoices")
    assert stored is not None and stored.definition is not None
    unreadable = {**stored.definition, "hooks": {"request": "no_such_hook"}}
    state.put_sync(
        stored.model_copy(update={"definition": unreadable}), expected_version=stored.version
    )

    stack.run_tasks()

    [run] = state.list_runs("acme", connection_id, "invoices")
    assert (run.status, run.error_code) == ("failed", "INVALID_SYNC")
    assert state.active_run("acme", connection_id, "invoices") is None


def test_a_stored_definition_that_no_longer_reads_does_not_hide_the_others(
    stack: Stack, api: DatasetApi
) -> None:
    connection_id = stack.connect(api)
    for name in ("invoices", "payments"):
        put = stack.syncs.put(f"/{connection_id}/{name}", json=DEFINITION, headers=ACME)
        assert put.status_code == 200, put.get_json()
    state = stack.container.sync_state
    stored = state.get_sync("acme", connection_id, "payments")
    assert stored is not None and stored.definition is not None
    unreadable = {**stored.definition, "hooks": {"request": "no_such_hook"}}
    state.put_sync(
        stored.model_copy(update={"definition": unreadable}), expected_version=stored.version
    )

    listed = stack.syncs.get(f"/{connection_id}", headers=ACME)

    assert listed.status_code == 200, listed.get_json()
    assert [s["name"] for s in listed.get_json()["syncs"]] == ["invoices"]
    # Asked for by name, it says what is wrong with it; written again, it is listed again.
    one = stack.syncs.get(f"/{connection_id}/payments", headers=ACME)
    assert one.status_code == 400 and one.get_json()["error"]["code"] == "INVALID_SYNC"
    assert (
        stack.syncs.put(f"/{connection_id}/payments", json=DEFINITION, headers=ACME).status_code
        == 200
    )
    listed = stack.syncs.get(f"/{connection_id}", headers=ACME).get_json()["syncs"]
    assert [s["name"] for s in listed] == ["invoices", "payments"]

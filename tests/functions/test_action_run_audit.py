"""An action run's one audit entry is written however the run ends, and a store that cannot
write stops a run before the credentials leave the service.

Through the `actions` function, the embedded SQLite store and the provider simulators; the
only stand-in is a registered action function with a bug, put in the composition root's
action runner.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import pytest

from tests.support.provider_world import ACME, STRIPE_KEY, World
from tether.actions.provider_call import ProviderCall
from tether.actions.runner import ActionRunner
from tether.catalog.action_catalog import load_actions
from tether.domain.errors import NotFound
from tether.domain.models import AuditEvent, Principal

BUG_TEXT = "the bug's own words"


def _list_invoices_then(failure: BaseException) -> Any:
    """A registered action function that calls the provider (with the API key) and then
    fails as a bug would."""

    def run(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
        call.json("GET", "/invoices")
        raise failure

    return run


def _install_buggy_list_invoices(world: World, failure: BaseException) -> None:
    """The container's action runner, with Stripe's ``list_invoices`` done by a function
    with a bug (the composition root's part, as in bootstrap)."""
    c = world.container
    catalog = dict(load_actions())
    stripe = dict(catalog["stripe"])
    stripe["list_invoices"] = stripe["list_invoices"].model_copy(
        update={"http": None, "function": "buggy_list_invoices"}
    )
    catalog["stripe"] = stripe
    c.__dict__["action_runner"] = ActionRunner(
        connections=c.connections,
        calls=lambda: c.connection_calls,
        actions=lambda: catalog,
        keys=lambda: c.idempotency_keys,
        audit=c.store,
        clock=c.clock,
        ids=c.ids,
        functions=lambda: {"buggy_list_invoices": _list_invoices_then(failure)},
    )


def _audit(world: World, connection_id: str) -> list[AuditEvent]:
    return world.container.store.list_audit("acme", connection_id=connection_id)


@pytest.mark.parametrize(
    "failure",
    [RuntimeError(BUG_TEXT), RecursionError(BUG_TEXT), KeyError(BUG_TEXT)],
    ids=["bug", "recursion", "key-error"],
)
def test_a_run_that_ends_in_an_unexpected_error_has_its_one_audit_entry(
    world: World, failure: BaseException
) -> None:
    stripe = world.connect("stripe", ACME)
    _install_buggy_list_invoices(world, failure)
    before = _audit(world, stripe)

    answer = world.run(stripe, "list_invoices", {}, ACME, key="invoices-1")

    assert (answer.status_code, answer.get_json()["error"]["code"]) == (500, "INTERNAL")
    # the API key did reach the provider: this use of it must be on record
    assert world.apis.count("GetInvoices") == 1
    added = _audit(world, stripe)[: -len(before)]
    assert [(e.action, e.detail) for e in added] == [
        (
            "action.run",
            {"name": "list_invoices", "ok": False, "input_fields": [], "code": "INTERNAL"},
        )
    ]
    assert BUG_TEXT not in str(added[0].model_dump())
    assert STRIPE_KEY not in str(added[0].model_dump())

    # the key was freed as a failed run's is: the retry runs (not IDEMPOTENCY_IN_PROGRESS)
    del world.container.__dict__["action_runner"]
    retried = world.run(stripe, "list_invoices", {}, ACME, key="invoices-1")
    assert retried.status_code == 200, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers


def _refuse_writes(world: World, tables: Mapping[str, tuple[str, ...]]) -> None:
    """Make the store file refuse the named writes (table → INSERT/UPDATE/DELETE), with
    triggers that abort them."""
    db = sqlite3.connect(world.container.settings.sqlite_path, isolation_level=None)
    try:
        for table, operations in tables.items():
            for operation in operations:
                db.execute(
                    f"CREATE TRIGGER refuse_{table}_{operation.lower()} BEFORE {operation} "
                    f"ON {table} BEGIN SELECT RAISE(ABORT, 'the store cannot write'); END"
                )
    finally:
        db.close()


def test_a_store_that_cannot_write_stops_the_run_before_the_credentials_are_sent(
    world: World,
) -> None:
    """The store file turns read-only (as on a read-only disk: SQLite refuses every write)
    between two runs: the run's rate-limit permit, the write before the provider call, fails,
    so the request with the API key is never sent."""
    stripe = world.connect("stripe", ACME)
    before = _audit(world, stripe)
    calls = len(world.apis.calls)
    # This thread's connection to the store file: the test client serves the request on it.
    world.container.store.database.db().execute("PRAGMA query_only = ON")

    answer = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME)

    assert answer.status_code >= 500, answer.get_json()
    assert STRIPE_KEY not in answer.get_data(as_text=True)
    # nothing reached the provider: no request carried the API key
    assert world.apis.calls[calls:] == []
    # and nothing could be recorded, consistently: no run, no entry
    world.container.store.database.db().execute("PRAGMA query_only = OFF")
    assert _audit(world, stripe) == before


def test_a_run_whose_key_cannot_be_marked_done_is_audited_and_keeps_the_key(
    world: World,
) -> None:
    stripe = world.connect("stripe", ACME)
    before = _audit(world, stripe)
    _refuse_writes(world, {"idempotency_keys": ("UPDATE",)})

    answer = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="ann")

    assert answer.status_code == 500, answer.get_json()
    assert world.apis.count("PostCustomers") == 1
    added = _audit(world, stripe)[: -len(before)]
    assert [(e.action, e.detail.get("ok"), e.detail.get("code")) for e in added] == [
        ("action.run", False, "INTERNAL")
    ]
    # the provider acted: a retry while the claim lasts does not act a second time
    again = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="ann")
    assert (again.status_code, again.get_json()["error"]["code"]) == (
        409,
        "IDEMPOTENCY_IN_PROGRESS",
    )
    assert world.apis.count("PostCustomers") == 1


def test_only_the_unaudited_read_skips_the_entry_and_it_stays_in_its_tenant(
    world: World,
) -> None:
    stripe = world.connect("stripe", ACME)
    service = world.container.connections
    acme = Principal(tenant_id="acme", user_id="user-1")
    record = service.get(acme, stripe)
    before = _audit(world, stripe)

    assert service.credentials_of(acme, record, purpose="fetch") == {"api_key": STRIPE_KEY}
    assert service.credentials_audited_by_caller(acme, record) == {"api_key": STRIPE_KEY}
    added = _audit(world, stripe)[: -len(before)]
    assert [(e.action, e.detail) for e in added] == [("credentials.read", {"purpose": "fetch"})]

    with pytest.raises(NotFound):
        service.credentials_audited_by_caller(Principal(tenant_id="globex", user_id="u"), record)

"""The chain of proactive refreshes never silently stops, against the local provider and the
local task queue on the test's clock: two token writes in one second each keep a task of their
own, and the sweep repairs a chain whose task ran (or was given up) without a fresh token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from functions_framework import create_app

from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import ACME, Flow, clock, connect, running_flow
from tether.adapters.local_tasks.records import TaskRecord
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether.domain.status import ConnectionStatus
from tether_emulators.oauth_provider import OAuthProvider

__all__ = ["clock"]  # fixtures


@pytest.fixture
def chain(settings: Settings, oauth_provider: OAuthProvider, clock: FixedClock) -> Iterator[Flow]:
    # A failed refresh task is given up at once.
    yield from running_flow(settings, oauth_provider, clock, task_max_attempts=1)


def _pending(flow: Flow) -> list[TaskRecord]:
    tasks = flow.container.tasks.list_tasks(status="pending", kind="refresh")  # type: ignore[attr-defined]
    return sorted(tasks, key=lambda task: task.run_at)


def _run_at(flow: Flow, clock: FixedClock, moment: datetime) -> None:
    clock.advance((moment - clock.now()).total_seconds())
    flow.container.tasks.run_due()  # type: ignore[attr-defined]


def test_two_token_writes_in_one_second_keep_the_refresh_chain(chain, clock):
    clock.advance((1_000_000 - clock.now().microsecond) / 1_000_000)  # a whole second
    connection_id = connect(chain)
    clock.advance(0.5)  # the forced refresh lands in the same second
    assert chain.connections.post(f"/{connection_id}/refresh", headers=ACME).status_code == 200
    record = chain.container.store.get_connection("acme", connection_id)
    second_due = record.token_expires_at - timedelta(seconds=300)

    # The first token's task runs half a second early for the second token: it re-arms.
    _run_at(chain, clock, _pending(chain)[0].run_at)
    assert [task.run_at for task in _pending(chain)] == [second_due]

    refreshes = chain.provider.stats.get("token.refresh_token", 0)
    _run_at(chain, clock, second_due)
    assert chain.provider.stats.get("token.refresh_token", 0) == refreshes + 1
    after = chain.container.store.get_connection("acme", connection_id)
    assert after.token_refreshed_at == clock.now() and after.token_expires_at > clock.now()
    assert len(_pending(chain)) == 1  # and the chain goes on


def test_the_sweep_repairs_a_chain_whose_task_was_given_up(chain, clock):
    connection_id = connect(chain)
    [task] = _pending(chain)
    chain.provider.inject("token", status=503)
    _run_at(chain, clock, task.run_at)
    assert chain.container.tasks.get(task.id).status == "dead"  # type: ignore[attr-defined]
    stale = chain.container.store.get_connection("acme", connection_id)
    assert stale.status == ConnectionStatus.ACTIVE and stale.refresh_failures == 1

    clock.advance(120)  # overdue beyond the sweep's grace; the token expires in 3 minutes
    tasks = create_app("tasks", SOURCE).test_client()
    token = {"Authorization": f"Bearer {chain.container.task_token}"}
    assert tasks.post("/sweep", headers=token).status_code in (200, 204)
    chain.container.tasks.run_due()  # type: ignore[attr-defined]

    fresh = chain.container.store.get_connection("acme", connection_id)
    assert fresh.token_expires_at > stale.token_expires_at
    assert fresh.refresh_failures == 0 and fresh.status == ConnectionStatus.ACTIVE

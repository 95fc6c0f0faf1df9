"""Keeping OAuth connections alive, against the local provider over real HTTP: one refresh
for many concurrent readers, rotation with reuse detection, revoked grants, provider outages,
forced refresh, proactive scheduling and revocation on delete."""

from __future__ import annotations

import httpx

from tests.functions.oauth_harness import ACME, clock, connect, flow
from tests.support.concurrency import together
from tether.domain.status import ConnectionStatus

__all__ = ["clock", "flow"]  # fixtures


def _record(flow, connection_id):
    return flow.container.store.get_connection("acme", connection_id)


def _refresh_token(flow, connection_id):
    record = _record(flow, connection_id)
    payload = flow.container.secrets.get(
        tenant_id="acme", connection_id=connection_id, ref=record.credential_ref
    )
    return payload["refresh_token"]


def test_twenty_concurrent_reads_of_an_expired_token_cause_one_refresh(flow, clock):
    connection_id = connect(flow)
    clock.advance(3600)  # the access token has expired for Tether
    flow.provider.advance_clock(3600)
    flow.provider.reset_stats()
    refresh = flow.container.token_refresh

    outcomes = together([lambda: refresh.access_token(_record(flow, connection_id))] * 20)

    assert [f.exception() for f in outcomes] == [None] * 20
    tokens = [f.result() for f in outcomes]
    assert flow.provider.stats.get("token.refresh_token") == 1
    assert len(set(tokens)) == 1
    assert _record(flow, connection_id).status == ConnectionStatus.ACTIVE
    me = httpx.get(flow.provider.api_url, headers={"Authorization": f"Bearer {tokens[0]}"})
    assert me.status_code == 200


def test_rotated_refresh_tokens_are_kept_and_the_old_ones_are_dead(flow, clock):
    connection_id = connect(flow)
    first = _refresh_token(flow, connection_id)
    refresh = flow.container.token_refresh
    for _ in range(3):
        refresh.force_refresh(_record(flow, connection_id))
    latest = _refresh_token(flow, connection_id)
    assert latest != first
    assert flow.provider.is_active(latest) and not flow.provider.is_active(first)
    assert flow.provider.stats.get("token.refresh_token") == 3
    # No token-endpoint error along the way: the provider would have revoked the family.
    assert _record(flow, connection_id).status == ConnectionStatus.ACTIVE


def test_a_revoked_grant_needs_reauth_with_one_audit_entry_and_a_503_does_not(flow, clock):
    connection_id = connect(flow)
    refresh = flow.connections.post(f"/{connection_id}/refresh", headers=ACME)
    assert refresh.status_code == 200

    flow.provider.inject("token", status=503)
    outage = flow.connections.post(f"/{connection_id}/refresh", headers=ACME)
    assert outage.status_code == 503
    assert _record(flow, connection_id).status == ConnectionStatus.ACTIVE

    flow.provider.revoke_all()
    revoked = flow.connections.post(f"/{connection_id}/refresh", headers=ACME)
    assert revoked.status_code == 409
    record = _record(flow, connection_id)
    assert record.status == ConnectionStatus.NEEDS_REAUTH
    assert record.status_detail is not None and "invalid_grant" in record.status_detail.code.lower()
    audit = flow.connections.get(f"/{connection_id}/audit", headers=ACME).get_json()["audit"]
    assert [e["action"] for e in audit].count("connection.needs_reauth") == 1

    # Reconnecting brings it back.
    again = flow.authorize(
        {"connection_id": connection_id, "return_to": flow.custom_body()["return_to"]}
    )
    _, outcome, _ = flow.finish(flow.browser(again["authorization_url"]))
    assert outcome["status"] == "active"
    assert _record(flow, connection_id).status == ConnectionStatus.ACTIVE


def test_storing_tokens_schedules_the_proactive_refresh(flow, clock):
    connection_id = connect(flow)
    record = _record(flow, connection_id)
    names = [task.name or "" for task in flow.container.tasks.list_tasks()]
    assert any(name.startswith(f"refresh-{connection_id}-") for name in names), names
    assert record.token_expires_at is not None


def test_delete_revokes_the_tokens_at_the_provider(flow, clock):
    connection_id = connect(flow)
    refresh_token = _refresh_token(flow, connection_id)
    assert flow.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert not flow.provider.is_active(refresh_token)
    assert flow.provider.stats.get("revoke", 0) >= 1


def test_a_failed_revocation_does_not_block_the_delete(flow, clock):
    connection_id = connect(flow)
    flow.provider.inject("revoke", status=503, times=5)
    assert flow.connections.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert flow.connections.get(f"/{connection_id}", headers=ACME).status_code == 404

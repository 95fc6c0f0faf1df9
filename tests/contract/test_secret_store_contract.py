"""The SecretStore contract: every backend passes all of it."""

from __future__ import annotations

import pytest

from tether.domain.errors import CryptoError, NotFound
from tether.ports import SecretStore

PAYLOAD = {"api_key": "sk_live_contract_0123456789", "nested": {"a": [1, 2]}}


def test_put_then_get_round_trips(secret_store: SecretStore) -> None:
    ref = secret_store.put(
        tenant_id="t1", connection_id="conn_1", provider="stripe", payload=PAYLOAD
    )
    assert secret_store.get(tenant_id="t1", connection_id="conn_1", ref=ref) == PAYLOAD
    assert "sk_live_contract" not in repr(ref)


def test_new_version_supersedes_previous(secret_store: SecretStore) -> None:
    first = secret_store.put(
        tenant_id="t1", connection_id="conn_2", provider="stripe", payload={"api_key": "one-111111"}
    )
    second = secret_store.put(
        tenant_id="t1",
        connection_id="conn_2",
        provider="stripe",
        payload={"api_key": "two-222222"},
    )
    assert second.locator != first.locator
    assert secret_store.get(tenant_id="t1", connection_id="conn_2", ref=second) == {
        "api_key": "two-222222"
    }


def test_reference_is_bound_to_its_tenant_and_connection(secret_store: SecretStore) -> None:
    ref = secret_store.put(
        tenant_id="t1", connection_id="conn_3", provider="stripe", payload=PAYLOAD
    )
    with pytest.raises((CryptoError, NotFound)):
        secret_store.get(tenant_id="t2", connection_id="conn_3", ref=ref)
    with pytest.raises((CryptoError, NotFound)):
        secret_store.get(tenant_id="t1", connection_id="conn_other", ref=ref)


def test_delete_is_idempotent(secret_store: SecretStore) -> None:
    ref = secret_store.put(
        tenant_id="t1", connection_id="conn_4", provider="stripe", payload=PAYLOAD
    )
    secret_store.delete(tenant_id="t1", connection_id="conn_4", ref=ref)
    secret_store.delete(tenant_id="t1", connection_id="conn_4", ref=ref)
    secret_store.delete(tenant_id="t1", connection_id="conn_4", ref=None)

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


def test_a_retired_version_can_no_longer_be_read(secret_store: SecretStore) -> None:
    old = secret_store.put(
        tenant_id="t1", connection_id="conn_5", provider="stripe", payload={"api_key": "old-1111"}
    )
    new = secret_store.put(
        tenant_id="t1", connection_id="conn_5", provider="stripe", payload={"api_key": "new-2222"}
    )
    secret_store.retire(tenant_id="t1", connection_id="conn_5", ref=old)
    with pytest.raises(NotFound):
        secret_store.get(tenant_id="t1", connection_id="conn_5", ref=old)
    # The others stay: the live version, and the same tenant's other connection.
    assert secret_store.get(tenant_id="t1", connection_id="conn_5", ref=new) == {
        "api_key": "new-2222"
    }
    secret_store.retire(tenant_id="t1", connection_id="conn_5", ref=old)  # idempotent
    with pytest.raises(NotFound):
        secret_store.get(tenant_id="t1", connection_id="conn_5", ref=old)


def test_retiring_a_version_written_for_a_record_that_never_landed(
    secret_store: SecretStore,
) -> None:
    live = secret_store.put(
        tenant_id="t1", connection_id="conn_6", provider="stripe", payload={"api_key": "live-1"}
    )
    orphan = secret_store.put(
        tenant_id="t1", connection_id="conn_6", provider="stripe", payload={"api_key": "orph-2"}
    )
    secret_store.retire(tenant_id="t1", connection_id="conn_6", ref=orphan)
    with pytest.raises(NotFound):
        secret_store.get(tenant_id="t1", connection_id="conn_6", ref=orphan)
    assert secret_store.get(tenant_id="t1", connection_id="conn_6", ref=live) == {
        "api_key": "live-1"
    }


def test_delete_destroys_every_version_of_that_connection_only(
    secret_store: SecretStore,
) -> None:
    refs = [
        secret_store.put(
            tenant_id="t1", connection_id="conn_7", provider="stripe", payload={"n": n}
        )
        for n in range(2)
    ]
    secret_store.retire(tenant_id="t1", connection_id="conn_7", ref=refs[0])
    neighbour = secret_store.put(
        tenant_id="t1", connection_id="conn_8", provider="stripe", payload=PAYLOAD
    )
    secret_store.delete(tenant_id="t1", connection_id="conn_7", ref=refs[1])
    for ref in refs:
        with pytest.raises(NotFound):
            secret_store.get(tenant_id="t1", connection_id="conn_7", ref=ref)
    assert secret_store.get(tenant_id="t1", connection_id="conn_8", ref=neighbour) == PAYLOAD


def test_delete_without_a_reference_destroys_every_version(secret_store: SecretStore) -> None:
    ref = secret_store.put(
        tenant_id="t1", connection_id="conn_9", provider="stripe", payload=PAYLOAD
    )
    secret_store.delete(tenant_id="t1", connection_id="conn_9", ref=None)
    with pytest.raises(NotFound):
        secret_store.get(tenant_id="t1", connection_id="conn_9", ref=ref)

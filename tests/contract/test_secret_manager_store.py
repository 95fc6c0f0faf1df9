"""Secret Manager specifics, checked with the real client library against the emulator: what
lands where, version states, CRC32C, cleanup on failure, the version cache."""

from __future__ import annotations

import uuid
from typing import Any

import google_crc32c
import pytest
from google.api_core import exceptions as gexc
from google.cloud.secretmanager_v1 import SecretManagerServiceClient, SecretVersion

from tether.adapters.secret_manager import SecretManagerSecretStore, secret_id_for
from tether.adapters.secret_manager.client import secret_manager_client
from tether.domain.errors import BackendUnavailable, CryptoError, NotFound

PAYLOAD = {"api_key": "sk_live_secret_manager_0123456789"}


class FailingClient:
    """The real client, with chosen methods failing (as Google's would) a number of times."""

    def __init__(self, inner: SecretManagerServiceClient) -> None:
        self._inner = inner
        self.failures: dict[str, list[Exception]] = {}
        self.calls: dict[str, int] = {}

    def fail(self, method: str, *errors: Exception) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            pending = self.failures.get(name)
            if pending:
                raise pending.pop(0)
            return target(*args, **kwargs)

        return call


@pytest.fixture
def project() -> str:
    return f"tether-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(secret_manager_emulator: str) -> FailingClient:
    return FailingClient(secret_manager_client(secret_manager_emulator))


def _store(client: Any, project: str, **options: Any) -> SecretManagerSecretStore:
    options.setdefault("cache_seconds", 0)
    options.setdefault("retry_seconds", 0.3)
    return SecretManagerSecretStore(client, project=project, **options)


def _versions(client: FailingClient, secret: str) -> dict[str, SecretVersion.State]:
    return {v.name.rsplit("/", 1)[1]: v.state for v in client.list_secret_versions(parent=secret)}


def test_the_payload_is_one_version_of_one_labelled_secret(client, project):
    store = _store(client, project)
    ref = store.put(
        tenant_id="Acme Corp", connection_id="conn_1", provider="stripe", payload=PAYLOAD
    )

    secret_id = secret_id_for("Acme Corp", "conn_1")
    assert secret_id.startswith("tether-") and secret_id.endswith("-conn_1")
    assert ref.locator == f"projects/{project}/secrets/{secret_id}/versions/1"
    secret = client.get_secret(name=f"projects/{project}/secrets/{secret_id}")
    assert secret.labels["tenant"] == "acme_corp"
    assert secret.labels["provider"] == "stripe"
    assert secret.replication.automatic is not None
    raw = client.access_secret_version(name=ref.locator).payload
    assert raw.data_crc32c == google_crc32c.value(raw.data)
    assert b"sk_live_secret_manager" in raw.data
    assert store.get(tenant_id="Acme Corp", connection_id="conn_1", ref=ref) == PAYLOAD


def test_replicas_and_cmek_keys_follow_configuration(client, project):
    key = "projects/kms/locations/{location}/keyRings/tether/cryptoKeys/credentials"
    store = _store(client, project, locations=["europe-west1", "europe-west4"], kms_key=key)
    store.put(tenant_id="t1", connection_id="conn_eu", provider="xero", payload=PAYLOAD)
    secret = client.get_secret(name=store.secret_name("t1", "conn_eu"))
    replicas = secret.replication.user_managed.replicas
    assert [(r.location, r.customer_managed_encryption.kms_key_name) for r in replicas] == [
        ("europe-west1", key.replace("{location}", "europe-west1")),
        ("europe-west4", key.replace("{location}", "europe-west4")),
    ]


def test_a_superseded_version_is_disabled_then_destroyed(client, project):
    store = _store(client, project)
    first = store.put(tenant_id="t1", connection_id="conn_2", provider="stripe", payload=PAYLOAD)
    second = store.put(
        tenant_id="t1", connection_id="conn_2", provider="stripe", payload={"api_key": "k2-0000"}
    )
    store.retire(tenant_id="t1", connection_id="conn_2", ref=first)
    store.retire(tenant_id="t1", connection_id="conn_2", ref=first)  # idempotent

    assert _versions(client, store.secret_name("t1", "conn_2")) == {
        "1": SecretVersion.State.DESTROYED,
        "2": SecretVersion.State.ENABLED,
    }
    assert client.calls["disable_secret_version"] == 2
    with pytest.raises(NotFound):
        store.get(tenant_id="t1", connection_id="conn_2", ref=first)
    assert store.get(tenant_id="t1", connection_id="conn_2", ref=second) == {"api_key": "k2-0000"}


def test_delete_leaves_nothing(client, project):
    store = _store(client, project)
    ref = store.put(tenant_id="t1", connection_id="conn_3", provider="stripe", payload=PAYLOAD)
    store.delete(tenant_id="t1", connection_id="conn_3", ref=ref)
    with pytest.raises(gexc.NotFound):
        client.get_secret(name=store.secret_name("t1", "conn_3"))
    with pytest.raises(NotFound):
        store.get(tenant_id="t1", connection_id="conn_3", ref=ref)
    store.delete(tenant_id="t1", connection_id="conn_3", ref=None)


def test_a_failed_first_version_removes_the_new_secret(client, project):
    store = _store(client, project)
    client.fail("add_secret_version", gexc.NotFound("no secret yet"), gexc.PermissionDenied("no"))
    with pytest.raises(BackendUnavailable) as caught:
        store.put(tenant_id="t1", connection_id="conn_4", provider="stripe", payload=PAYLOAD)
    assert caught.value.retryable is False
    with pytest.raises(gexc.NotFound):
        client.get_secret(name=store.secret_name("t1", "conn_4"))


def test_an_unavailable_backend_is_a_retryable_error_with_nothing_written(client, project):
    store = _store(client, project)
    store.put(tenant_id="t1", connection_id="conn_5", provider="stripe", payload=PAYLOAD)
    client.fail("add_secret_version", gexc.ServiceUnavailable("down"))
    with pytest.raises(BackendUnavailable) as caught:
        store.put(tenant_id="t1", connection_id="conn_5", provider="stripe", payload=PAYLOAD)
    assert caught.value.retryable is True
    assert "sk_live" not in str(caught.value)
    assert set(_versions(client, store.secret_name("t1", "conn_5"))) == {"1"}


def test_a_corrupted_read_fails_its_checksum(client, project, monkeypatch):
    store = _store(client, project)
    ref = store.put(tenant_id="t1", connection_id="conn_6", provider="stripe", payload=PAYLOAD)
    real = client._inner.access_secret_version

    def corrupted(*args: Any, **kwargs: Any) -> Any:
        response = real(*args, **kwargs)
        response.payload.data = response.payload.data.replace(b"sk_live", b"sk_LIVE")
        return response

    monkeypatch.setattr(client._inner, "access_secret_version", corrupted)
    with pytest.raises(BackendUnavailable, match="integrity"):
        store.get(tenant_id="t1", connection_id="conn_6", ref=ref)


def test_a_reference_of_another_connection_is_refused_before_any_call(client, project):
    store = _store(client, project)
    ref = store.put(tenant_id="t1", connection_id="conn_7", provider="stripe", payload=PAYLOAD)
    before = client.calls.get("access_secret_version", 0)
    with pytest.raises(CryptoError):
        store.get(tenant_id="t2", connection_id="conn_7", ref=ref)
    assert client.calls.get("access_secret_version", 0) == before


def test_the_version_cache_serves_repeat_reads_and_forgets_retired_versions(client, project):
    store = _store(client, project, cache_seconds=30, cache_size=2)
    ref = store.put(tenant_id="t1", connection_id="conn_8", provider="stripe", payload=PAYLOAD)
    for _ in range(3):
        assert store.get(tenant_id="t1", connection_id="conn_8", ref=ref) == PAYLOAD
    assert client.calls.get("access_secret_version", 0) == 0
    store.retire(tenant_id="t1", connection_id="conn_8", ref=ref)
    with pytest.raises(NotFound):
        store.get(tenant_id="t1", connection_id="conn_8", ref=ref)
    # bounded: three versions through a cache of two
    refs = [
        store.put(tenant_id="t1", connection_id="conn_8", provider="stripe", payload={"n": i})
        for i in range(3)
    ]
    assert store.get(tenant_id="t1", connection_id="conn_8", ref=refs[0]) == {"n": 0}
    assert client.calls["access_secret_version"] == 2

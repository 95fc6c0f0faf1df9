"""The connections function on the cloud backends (Firestore, Secret Manager) on their
emulators, checked from the outside with Google's own client libraries: what lands where,
what a delete leaves, and that a failure of either backend leaves no orphan and no
half-written record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app
from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.secretmanager_v1 import SecretManagerServiceClient, SecretVersion

from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, bearer
from tests.functions.conftest import SOURCE
from tether.adapters.firestore import FirestoreConnectionStore
from tether.adapters.secret_manager import SecretManagerSecretStore
from tether.adapters.secret_manager.client import secret_manager_client
from tether.bootstrap import Container, reset_container
from tether.config import Settings
from tether.domain.errors import BackendUnavailable

API_KEY = "sk_live_" + "gcpstack" * 3
ACME = bearer("acme")


class Faults:
    """Wraps a backend object; methods named in ``failing`` raise instead of running."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failing: dict[str, Exception] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if name in self.failing:
                raise self.failing[name]
            return target(*args, **kwargs)

        return call


class Stack:
    def __init__(self, fs: firestore.Client, sm: SecretManagerServiceClient, project: str):
        self.fs = fs
        self.sm = sm
        self.project = project
        self.store = Faults(FirestoreConnectionStore(fs))
        self.sm_client = Faults(sm)
        self.secrets = SecretManagerSecretStore(
            self.sm_client, project=project, cache_seconds=0, retry_seconds=0.2
        )

    def document(self, connection_id: str) -> dict[str, Any] | None:
        snapshot = (
            self.fs.collection("tenants")
            .document("acme")
            .collection("connections")
            .document(connection_id)
            .get()
        )
        return snapshot.to_dict() if snapshot.exists else None

    def connection_documents(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.fs.collection_group("connections").stream()]

    def secrets_of_project(self) -> list[str]:
        return [s.name for s in self.sm.list_secrets(parent=f"projects/{self.project}")]

    def versions(self, secret: str) -> dict[str, SecretVersion.State]:
        return {
            v.name.rsplit("/", 1)[1]: v.state for v in self.sm.list_secret_versions(parent=secret)
        }


@pytest.fixture
def stack(
    firestore_client: firestore.Client, secret_manager_emulator: str, tmp_path: Path
) -> Iterator[tuple[Stack, FlaskClient, Container]]:
    project = f"tether-test-{uuid.uuid4().hex[:8]}"
    parts = Stack(firestore_client, secret_manager_client(secret_manager_emulator), project)
    settings = Settings(
        mode="dev",
        auth="dev",
        store="firestore",
        secrets="secret_manager",
        gcp_project=project,
        data_dir=tmp_path / "data",
        keyring=TEST_KEYRING,  # type: ignore[arg-type]
        dev_jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        task_worker=False,
    )
    container = Container(settings, store=parts.store, secrets=parts.secrets)
    reset_container(container)
    yield parts, create_app("connections", SOURCE).test_client(), container
    reset_container(None)


def _create(client: FlaskClient) -> Any:
    return client.post(
        "/",
        json={"provider": "stripe", "credentials": {"api_key": API_KEY}},
        headers=ACME,
    )


def test_the_payload_lives_only_in_secret_manager_and_the_record_only_refers(stack):
    parts, client, _ = stack
    created = _create(client)
    assert created.status_code == 201, created.get_json()
    connection_id = created.get_json()["id"]

    document = parts.document(connection_id)
    assert document is not None
    assert API_KEY not in json.dumps(document, default=str)
    record = json.loads(document["record"])
    locator = record["credential_ref"]["locator"]
    assert record["credential_ref"]["backend"] == "secret_manager"
    assert locator.startswith(f"projects/{parts.project}/secrets/tether-")
    assert locator.endswith("/versions/1")
    payload = parts.sm.access_secret_version(name=locator).payload.data
    assert json.loads(payload) == {"api_key": API_KEY}

    # A change adds a version and destroys the superseded one.
    patched = client.patch(
        f"/{connection_id}", json={"credentials": {"api_key": API_KEY + "2"}}, headers=ACME
    )
    assert patched.status_code == 200
    secret = locator.rsplit("/versions/", 1)[0]
    assert parts.versions(secret) == {
        "1": SecretVersion.State.DESTROYED,
        "2": SecretVersion.State.ENABLED,
    }
    assert client.get(f"/{connection_id}", headers=ACME).get_json()["credential_hints"]

    # Delete: the secret goes with every version; the record keeps no reference.
    assert client.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert parts.secrets_of_project() == []
    with pytest.raises(gexc.NotFound):
        parts.sm.list_secret_versions(parent=secret)
    gone = json.loads(parts.document(connection_id)["record"])
    assert gone["credential_ref"] is None and gone["deleted_at"] is not None


def test_a_firestore_failure_on_create_leaves_no_secret(stack):
    parts, client, _ = stack
    parts.store.failing["create_connection"] = BackendUnavailable("firestore down")
    response = _create(client)
    assert response.status_code == 503
    assert parts.connection_documents() == []
    assert parts.secrets_of_project() == []


def test_a_secret_manager_failure_on_create_leaves_no_record_and_no_secret(stack):
    parts, client, _ = stack
    parts.sm_client.failing["add_secret_version"] = gexc.ServiceUnavailable("sm down")
    response = _create(client)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SECRET_BACKEND_UNAVAILABLE"
    assert API_KEY not in response.get_data(as_text=True)
    assert parts.connection_documents() == []
    assert parts.secrets_of_project() == []


def test_a_firestore_failure_on_update_retires_the_new_version(stack):
    parts, client, _ = stack
    connection_id = _create(client).get_json()["id"]
    before = parts.document(connection_id)
    parts.store.failing["update_connection"] = BackendUnavailable("firestore down")
    response = client.patch(
        f"/{connection_id}", json={"credentials": {"api_key": API_KEY + "x"}}, headers=ACME
    )
    assert response.status_code == 503
    assert parts.document(connection_id) == before
    (secret,) = parts.secrets_of_project()
    assert parts.versions(secret) == {
        "1": SecretVersion.State.ENABLED,
        "2": SecretVersion.State.DESTROYED,
    }


def test_a_secret_manager_failure_on_delete_schedules_a_purge_that_finishes_it(stack):
    parts, client, container = stack
    connection_id = _create(client).get_json()["id"]
    parts.sm_client.failing["delete_secret"] = gexc.ServiceUnavailable("sm down")
    assert client.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert len(parts.secrets_of_project()) == 1  # not yet

    parts.sm_client.failing.clear()
    container.tasks.run_due()  # the local queue runs the scheduled purge
    (purge,) = container.tasks.list_tasks(kind="purge_credentials")
    assert purge.status == "done"
    assert parts.secrets_of_project() == []


def test_a_read_through_a_stale_copy_follows_the_record_to_the_new_version(stack):
    _parts, client, container = stack
    connection_id = _create(client).get_json()["id"]
    service = container.connections
    principal = container.verifier.verify(ACME["Authorization"].split()[1])
    stale = service.get(principal, connection_id)
    client.patch(
        f"/{connection_id}", json={"credentials": {"api_key": API_KEY + "n"}}, headers=ACME
    )
    # `stale` names version 1, destroyed by the change; the read re-reads the record.
    payload = service._read(principal, stale, purpose="test")
    assert payload == {"api_key": API_KEY + "n"}


def test_a_purge_task_never_touches_a_live_connection(stack):
    parts, client, container = stack
    connection_id = _create(client).get_json()["id"]
    container.connections.purge_credentials({"tenant_id": "acme", "connection_id": connection_id})
    assert len(parts.secrets_of_project()) == 1
    assert client.get(f"/{connection_id}", headers=ACME).status_code == 200


def test_an_unreadable_record_is_deleted_with_its_secret(stack):
    """A record that no longer decodes (here: JSON nested 250 levels, as bodies were stored
    before they were bounded): listed by id only, 409 by id, and its DELETE removes the
    document and destroys the Secret Manager secret, found by connection id alone."""
    parts, client, _ = stack
    connection_id = _create(client).get_json()["id"]
    keep = _create(client).get_json()["id"]
    ref = (
        parts.fs.collection("tenants")
        .document("acme")
        .collection("connections")
        .document(connection_id)
    )
    record = json.loads(ref.get().to_dict()["record"])
    record["metadata"] = json.loads('{"a":' * 250 + "{}" + "}" * 250)
    ref.update({"record": json.dumps(record)})
    assert len(parts.secrets_of_project()) == 2

    listed = client.get("/", headers=ACME).get_json()
    assert [c["id"] for c in listed["connections"]] == [keep]
    assert listed["unreadable"] == [connection_id]
    response = client.get(f"/{connection_id}", headers=ACME)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "RECORD_UNREADABLE"

    assert client.delete(f"/{connection_id}", headers=ACME).status_code == 204
    assert parts.document(connection_id) is None
    assert len(parts.secrets_of_project()) == 1  # the other connection's
    assert client.get(f"/{keep}", headers=ACME).status_code == 200

"""`tether dev --gcp` as a developer runs it: a real process on the cloud backends (Firestore,
Secret Manager, Cloud Tasks on their emulators), real HTTP, and the full task path: the Cloud
Tasks emulator dispatches an HTTP task with a Google-style OIDC token to the `tasks` function,
which verifies it before running anything."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from tests.e2e.test_dev_server import DevServer
from tether.adapters.cloud_tasks import CloudTasksQueue
from tether.adapters.cloud_tasks.client import cloud_tasks_client
from tether.adapters.secret_manager.client import secret_manager_client
from tether.cli import _DEV_TASKS_SERVICE_ACCOUNT
from tether.config import Settings

pytestmark = pytest.mark.e2e

SECRET = "sk_live_51GcpDevSecretNeverLeaks0000000000"


@pytest.fixture
def gcp_dev(
    tmp_path: Path, firestore_emulator: str, secret_manager_emulator: str, cloud_tasks_emulator: Any
) -> Iterator[DevServer]:
    server = DevServer(
        tmp_path / "data",
        extra_args=("--gcp", "--demo-provider-port", "0"),
        extra_env={
            "GOOGLE_CLOUD_PROJECT": f"dev-{uuid.uuid4().hex[:8]}",
            "FIRESTORE_EMULATOR_HOST": firestore_emulator,
            "SECRET_MANAGER_EMULATOR_HOST": secret_manager_emulator,
            "CLOUD_TASKS_EMULATOR_HOST": cloud_tasks_emulator.address,
            "CLOUD_TASKS_EMULATOR_JWKS_URL": cloud_tasks_emulator.jwks_url,
        },
    )
    server.start()
    yield server
    server.stop()


def _tasks_queue(server: DevServer, cloud_tasks_emulator: Any, account: str) -> CloudTasksQueue:
    settings = Settings(mode="dev", auth="dev")
    return CloudTasksQueue(
        cloud_tasks_client(cloud_tasks_emulator.address),
        project=server.extra_env["GOOGLE_CLOUD_PROJECT"],
        location=settings.tasks_location,
        queue_for=settings.task_queue,
        tasks_url=f"{server.url}/tasks",
        service_account=account,
    )


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_dev_gcp_end_to_end(gcp_dev: DevServer, cloud_tasks_emulator: Any) -> None:
    project = gcp_dev.extra_env["GOOGLE_CLOUD_PROJECT"]
    client = httpx.Client(base_url=gcp_dev.url, timeout=10)
    auth = {"Authorization": f"Bearer {gcp_dev.cli('token', '--tenant', 'acme')}"}

    created = client.post(
        "/connections/",
        json={"provider": "stripe", "credentials": {"api_key": SECRET}},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]

    # The record is in Firestore with only a reference; the payload in Secret Manager.
    fs = firestore.Client(project=project)
    document = (
        fs.collection("tenants").document("acme").collection("connections").document(connection_id)
    ).get()
    assert document.exists and SECRET not in json.dumps(document.to_dict(), default=str)
    locator = json.loads(document.get("record"))["credential_ref"]["locator"]
    sm = secret_manager_client(gcp_dev.extra_env["SECRET_MANAGER_EMULATOR_HOST"])
    assert SECRET.encode() in sm.access_secret_version(name=locator).payload.data

    assert client.delete(f"/connections/{connection_id}", headers=auth).status_code == 204
    with pytest.raises(gexc.NotFound):
        sm.get_secret(name=locator.split("/versions/")[0])

    # The tasks function takes a task from Cloud Tasks only with the right OIDC identity.
    good = _tasks_queue(gcp_dev, cloud_tasks_emulator, _DEV_TASKS_SERVICE_ACCOUNT)
    stranger = _tasks_queue(gcp_dev, cloud_tasks_emulator, "intruder@evil.iam.gserviceaccount.com")
    payload = {"tenant_id": "acme", "connection_id": connection_id}
    assert good.enqueue("purge_credentials", payload, name="e2e-good") is True
    assert stranger.enqueue("purge_credentials", payload, name="e2e-stranger") is True

    tasks = cloud_tasks_client(cloud_tasks_emulator.address)
    queue = good.queue_path("purge_credentials")

    def ours() -> list[Any]:
        # the queue is shared: the delete above left the late round of its data purge there
        return [
            t
            for t in tasks.list_tasks(parent=queue)
            if t.name.rsplit("/", 1)[1].startswith("purge_credentials-")
        ]

    def names() -> set[str]:
        return {t.name.rsplit("/", 1)[1] for t in ours()}

    # The good task ran and completed (gone from the queue); the stranger's is refused and
    # stays, being retried.
    assert _wait(lambda: len(names()) == 1)
    (left,) = ours()
    assert _wait(lambda: tasks.get_task(name=left.name).dispatch_count >= 1)
    assert tasks.get_task(name=left.name).last_attempt.response_status.code != 0
    tasks.delete_task(name=left.name)  # stop its retries: the emulator may outlive this test
    client.close()
    gcp_dev.stop()
    assert "POST tasks 200" in gcp_dev.output
    assert "POST tasks 403" in gcp_dev.output
    assert SECRET not in gcp_dev.output

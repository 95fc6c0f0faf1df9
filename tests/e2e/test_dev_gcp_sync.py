"""The sync scenario of ``test_dev_sync.py`` on the GCP stack: `tether dev --gcp` on the
Firestore and Cloud Tasks emulators (each `sync` task dispatched over HTTP with an OIDC token
to the `tasks` function), killed mid-run and restarted on the same emulators."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_dev_server import DevServer
from tests.e2e.test_dev_sync import api, notify, sync_env, sync_scenario
from tests.support.notify_receiver import Receiver
from tether_emulators.dataset_api import DatasetApi

pytestmark = pytest.mark.e2e
__all__ = ["api", "notify"]  # fixtures


def test_dev_gcp_sync_end_to_end(
    tmp_path: Path,
    api: DatasetApi,
    notify: Receiver,
    firestore_emulator: str,
    secret_manager_emulator: str,
    cloud_tasks_emulator: Any,
) -> None:
    project = f"dev-{uuid.uuid4().hex[:8]}"
    servers: list[DevServer] = []

    def start() -> DevServer:
        port = servers[0].port if servers else DevServer(tmp_path / "data").port
        server = DevServer(
            tmp_path / "data",
            port=port,
            extra_args=("--gcp", "--demo-provider-port", "0"),
            extra_env={
                **sync_env(api, notify),
                "GOOGLE_CLOUD_PROJECT": project,
                "FIRESTORE_EMULATOR_HOST": firestore_emulator,
                "SECRET_MANAGER_EMULATOR_HOST": secret_manager_emulator,
                "CLOUD_TASKS_EMULATOR_HOST": cloud_tasks_emulator.address,
                "CLOUD_TASKS_EMULATOR_JWKS_URL": cloud_tasks_emulator.jwks_url,
            },
        )
        server.start()
        servers.append(server)
        return server

    try:
        sync_scenario(start, api, notify)
    finally:
        for server in servers:
            server.stop()

"""Shared fixtures: an isolated embedded stack per test, real parts only (SQLite in a temp
folder, the real keyring and sealer, real JWTs)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.api.auth import issue_dev_token
from tether.bootstrap import Container, reset_container
from tether.config import Settings

# The emulators the GCP adapters are tested against: started once per session (or taken from
# FIRESTORE_EMULATOR_HOST, SECRET_MANAGER_EMULATOR_HOST, CLOUD_TASKS_EMULATOR_HOST when set).
pytest_plugins = [
    "tests.fixtures.firestore",
    "tests.fixtures.secret_manager",
    "tests.fixtures.cloud_tasks",
    "tests.fixtures.oauth_provider",
    "tests.fixtures.postgres",
    "tests.fixtures.sample_api",
]

TEST_JWT_SECRET = "test-secret-for-dev-tokens-0123456789abcdef"
TEST_KEYRING = json.dumps(
    {"primary": "ktest1", "keys": {"ktest1": base64.b64encode(bytes(range(32))).decode()}}
)


@pytest.fixture(autouse=True)
def _clean_tether_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's TETHER_* variables."""
    for name in list(os.environ):
        if name.startswith("TETHER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        mode="dev",
        auth="dev",
        data_dir=tmp_path / "data",
        keyring=TEST_KEYRING,  # type: ignore[arg-type]
        dev_jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
        frontend_url="https://app.example.com",
        task_worker=False,
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = Container(settings)
    reset_container(built)
    yield built
    reset_container(None)
    built.close()


def bearer(tenant: str, user: str = "user-1") -> dict[str, str]:
    token = issue_dev_token(TEST_JWT_SECRET, tenant_id=tenant, user_id=user)
    return {"Authorization": f"Bearer {token}"}

"""Functions tested as deployed: functions-framework's own app around ``functions/main.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.support.mcp_client import serving_functions
from tests.support.provider_world import World, running_world
from tether.bootstrap import Container
from tether.config import Settings

SOURCE = str(Path(__file__).resolve().parents[2] / "functions" / "main.py")


@pytest.fixture
def connections_client(container: Container) -> FlaskClient:
    return create_app("connections", SOURCE).test_client()


@pytest.fixture
def catalog_client(container: Container) -> FlaskClient:
    return create_app("catalog", SOURCE).test_client()


@pytest.fixture
def tasks_client(container: Container) -> FlaskClient:
    return create_app("tasks", SOURCE).test_client()


@pytest.fixture
def fetch_client(container: Container) -> FlaskClient:
    return create_app("fetch", SOURCE).test_client()


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    """Tether's functions beside the provider simulators and the OAuth provider (a module
    that needs another world, with a clock say, defines its own)."""
    yield from running_world(settings)


@pytest.fixture
def dev_url(world: World) -> Iterator[str]:
    """Every function served on a loopback port, as `tether dev` serves them, over ``world``."""
    with serving_functions() as url:
        yield url

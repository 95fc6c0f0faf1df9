"""Functions tested as deployed: functions-framework's own app around ``functions/main.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tether.bootstrap import Container

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

"""A provider answer of a shape the action does not expect, through the `actions` function
and the provider simulators: a registered function's run answers 502 ``PROVIDER_ERROR`` with
the suggestion a connection test gives, as a declarative action's does; never a 500, never a
400 that blames the caller's input, never an output made up from the wrong shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.provider_world import ACME, World, running_world
from tether.config import Settings

MAIL = {"to": ["ann@example.com"], "subject": "Hello", "text": "Hi"}
EVENT = {"summary": "s", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T11:00:00Z"}
RANGE = {"time_min": "2026-05-01T07:00:00Z", "time_max": "2026-05-01T10:00:00Z"}


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from running_world(settings)


def _provider_error(answer: Any) -> None:
    assert answer.status_code == 502, answer.get_json()
    error = answer.get_json()["error"]
    assert error["code"] == "PROVIDER_ERROR"
    assert error["details"]["suggestion"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"abc"', b"7", b'[["id", "m1"]]'])
def test_a_function_whose_answer_is_not_an_object_is_a_provider_error(
    world: World, raw: bytes
) -> None:
    """``[["id", "m1"]]`` is not a message, even though ``dict()`` would make one of it."""
    runs: list[tuple[str, str, dict[str, Any]]] = [
        (world.connect("gmail", ACME), "send_email", MAIL),
        (world.connect("google_calendar", ACME), "create_event", EVENT),
        (world.connect("google_drive", ACME), "upload_file", {"name": "n.txt", "text": "t"}),
    ]
    for connection, action, body in runs:
        world.apis.answer_next(raw)
        _provider_error(world.run(connection, action, body, ACME, key=f"{action}-1"))
        # the run failed: its key is free, and the retry runs
        retried = world.run(connection, action, body, ACME, key=f"{action}-1")
        assert retried.status_code == 200, retried.get_json()
        assert "Idempotent-Replayed" not in retried.headers

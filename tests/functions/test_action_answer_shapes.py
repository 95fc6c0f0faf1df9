"""A provider answer of a shape the action does not expect, through the `actions` function
and the provider simulators: a registered function's run answers 502 ``PROVIDER_ERROR`` with
the suggestion a connection test gives, as a declarative action's does; never a 500, never a
400 that blames the caller's input, never an output made up from the wrong shape."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.provider_world import ACME, World

MAIL = {"to": ["ann@example.com"], "subject": "Hello", "text": "Hi"}
EVENT = {"summary": "s", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T11:00:00Z"}
RANGE = {"time_min": "2026-05-01T07:00:00Z", "time_max": "2026-05-01T10:00:00Z"}


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
        # the provider acted before the answer failed: the retry replays the failure
        calls = len(world.apis.calls)
        retried = world.run(connection, action, body, ACME, key=f"{action}-1")
        _provider_error(retried)
        assert retried.get_json()["error"]["details"]["replayed"] is True
        assert len(world.apis.calls) == calls


@pytest.mark.parametrize(
    "raw",
    [
        b"[1]",
        b'{"calendars": []}',
        b'{"calendars": {"primary": []}}',
        b'{"calendars": {"primary": {"busy": {}}}}',
        b'{"calendars": {"primary": {"busy": [{}]}}}',
        b'{"calendars": {"primary": {"busy": ["x"]}}}',
        b'{"calendars": {"primary": {"busy": [{"start": 1, "end": 2}]}}}',
        b'{"calendars": {"primary": {"busy": [{"start": "soon", "end": "later"}]}}}',
        b'{"calendars": {"primary": {"busy": [{"start": "2026-05-01T08:00:00",'
        b' "end": "2026-05-01T09:00:00Z"}]}}}',
    ],
)
def test_a_free_busy_answer_of_another_shape_is_a_provider_error(world: World, raw: bytes) -> None:
    """The busy intervals are the provider's, not the caller's input: a missing or unreadable
    one is not a 400 ``INVALID_INPUT`` about a field the caller never sent, nor a 500; and
    an answer without them is not an empty calendar with every slot free."""
    calendar = world.connect("google_calendar", ACME)
    world.apis.answer_next(raw)
    _provider_error(world.run(calendar, "find_availability", RANGE, ACME))


def test_a_calendar_free_busy_reports_for_is_still_read(world: World) -> None:
    """A calendar Google could not read answers ``errors`` and no ``busy``: nothing busy."""
    calendar = world.connect("google_calendar", ACME)
    world.apis.answer_next(
        b'{"kind": "calendar#freeBusy", "calendars": {"primary": {"errors": '
        b'[{"domain": "global", "reason": "notFound"}], "busy": []}}}'
    )
    answer = world.run(calendar, "find_availability", RANGE, ACME)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["output"]["busy"] == []

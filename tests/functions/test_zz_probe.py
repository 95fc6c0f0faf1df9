from __future__ import annotations
from collections.abc import Iterator
import pytest
from tests.support.provider_world import ACME, GLOBEX, World, running_world
from tether.config import Settings


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from running_world(settings)


def test_probe(world: World) -> None:
    gmail = world.connect("gmail", ACME)
    cal = world.connect("google_calendar", ACME)
    drive = world.connect("google_drive", ACME)
    for raw in [b'[1,2]', b'"abc"', b'[["id","x"]]', b'7']:
        world.apis.answer_next(raw)
        r = world.run(gmail, "send_email", {"to": ["a@x.com"], "subject": "s", "text": "t"}, ACME, key="m" + raw.decode()[:3])
        print("gmail", raw, r.status_code, r.get_data(as_text=True)[:200])
    for raw in [b'[1]', b'{"calendars": {"primary": {"busy": [{"start": "nope", "end": "x"}]}}}', b'{"calendars": {"primary": {"busy": [{}]}}}', b'{"calendars": []}', b'{"calendars": {"primary": {"busy": [{"start": "2026-05-01T07:00:00", "end": "2026-05-01T08:00:00Z"}]}}}']:
        world.apis.answer_next(raw)
        r = world.run(cal, "find_availability", {"time_min": "2026-05-01T07:00:00Z", "time_max": "2026-05-01T10:00:00Z"}, ACME)
        print("freebusy", raw[:40], r.status_code, r.get_data(as_text=True)[:200])
    world.apis.answer_next(b'[1]')
    r = world.run(cal, "create_event", {"summary": "s", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T11:00:00Z"}, ACME)
    print("create_event", r.status_code, r.get_data(as_text=True)[:200])
    world.apis.answer_next(b'[1]')
    r = world.run(drive, "upload_file", {"name": "n", "text": "t"}, ACME)
    print("upload", r.status_code, r.get_data(as_text=True)[:200])

"""Hostile action input through the `actions` function: values that would move a request to
another path, or add a header to a message or an upload part, are refused with 400
``INVALID_INPUT`` naming the field, and nothing reaches the provider simulators."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.provider_world import ACME, World

EVENT = {"summary": "s", "start": "2026-05-01T10:00:00Z", "end": "2026-05-01T11:00:00Z"}


def _refused(world: World, answer: Any, field: str) -> None:
    assert answer.status_code == 400, answer.get_json()
    error = answer.get_json()["error"]
    assert (error["code"], error["details"]["field"]) == ("INVALID_INPUT", field)
    assert f"'{field}'" in error["message"]
    assert world.apis.calls == []


@pytest.mark.parametrize("segment", ["..", "."])
def test_a_dot_segment_in_a_path_input_never_moves_the_request(world: World, segment: str) -> None:
    """``..`` percent-encodes to itself, and the URL parser removes dot segments (RFC 3986
    §5.2.4): ``DELETE /files/..`` would go to ``/drive/v3``, a download of ``.`` would list
    the files."""
    drive = world.connect("google_drive", ACME)
    calendar = world.connect("google_calendar", ACME)
    gmail = world.connect("gmail", ACME)
    cases = [
        (drive, "delete_file", {"file_id": segment}, "file_id"),
        (drive, "download_file", {"file_id": segment}, "file_id"),
        (calendar, "update_event", {"event_id": segment, "summary": "s"}, "event_id"),
        (calendar, "create_event", {**EVENT, "calendar_id": segment}, "calendar_id"),
        (gmail, "get_email", {"message_id": segment}, "message_id"),
    ]
    world.apis.calls.clear()
    for connection, action, body, field in cases:
        _refused(world, world.run(connection, action, body, ACME), field)


def test_a_path_input_with_a_line_break_is_invalid_input(world: World) -> None:
    """An input, not a configuration value: the error says so, with the input's code."""
    drive = world.connect("google_drive", ACME)
    world.apis.calls.clear()
    answer = world.run(drive, "delete_file", {"file_id": "a\r\nb"}, ACME)
    _refused(world, answer, "file_id")
    assert "Configuration" not in answer.get_json()["error"]["message"]


def test_other_path_characters_stay_inside_their_segment(world: World) -> None:
    drive = world.connect("google_drive", ACME)
    world.apis.calls.clear()
    for file_id in ["a?b", "a#b", "a%2fb", "..%2f..", "ü", ".a", "..."]:
        world.run(drive, "delete_file", {"file_id": file_id}, ACME)
        world.run(drive, "download_file", {"file_id": file_id}, ACME)
    assert {(c.method, c.operation) for c in world.apis.calls} == {
        ("DELETE", "drive.files.delete"),
        ("GET", "drive.files.get"),
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", ["ann@example.com\r\nBcc: eve@example.com"]),
        ("to", ["ann@example.com, eve@example.com"]),
        ("to", ["ann@example.com;eve@example.com"]),
        ("to", ["team: ann@example.com, eve@example.com;"]),
        ("cc", ["bob@example.com\nBcc: eve@example.com"]),
        ("bcc", ["bob@example.com, eve@example.com"]),
        ("reply_to", "ann@example.com\r\nBcc: eve@example.com"),
        ("reply_to", "ann@example.com, eve@example.com"),
        ("subject", "Hello\r\nBcc: eve@example.com"),
        ("subject", "Hello\nX-Extra: 1"),
        ("subject", "Hello\u2028Bcc: eve@example.com"),
        ("subject", "Hello\x85X-Extra: 1"),
        ("subject", "Hello\x0bX-Extra: 1"),
        ("to", ["ann@example.com\u2029"]),
    ],
)
def test_gmail_header_inputs_hold_one_line_and_one_address(
    world: World, field: str, value: Any
) -> None:
    """Each item of ``to``/``cc``/``bcc`` and ``reply_to`` is one address, ``subject`` one
    line: a line break (a header of the caller's own) or a second address (a recipient the
    schema's item does not say) is refused, not sent and not a 500."""
    gmail = world.connect("gmail", ACME)
    world.apis.calls.clear()
    body = {"to": ["ann@example.com"], "subject": "Hello", "text": "Hi", field: value}
    named = f"{field}.0" if isinstance(value, list) else field  # as the schema's errors do
    _refused(world, world.run(gmail, "send_email", body, ACME), named)
    assert world.apis.state.messages == {}


def test_gmail_addresses_with_a_display_name_still_send(world: World) -> None:
    gmail = world.connect("gmail", ACME)
    body = {"to": ["Ann Lee <ann@example.com>", '"Lee, Bob" <bob@example.com>'], "subject": "Hi"}
    sent = world.run(gmail, "send_email", {**body, "text": "Hi"}, ACME)
    assert sent.status_code == 200, sent.get_json()
    stored = world.apis.state.messages[sent.get_json()["output"]["id"]]
    headers = {h["name"]: h["value"] for h in stored["payload"]["headers"]}
    assert headers["To"] == 'Ann Lee <ann@example.com>, "Lee, Bob" <bob@example.com>'


def test_a_drive_mime_type_ending_in_a_line_feed_is_refused(world: World) -> None:
    """The schema's pattern ends in ``$``, which Python's ``re`` (the reference validator's)
    also matches before a final line feed: the MIME type is a header of the upload's media
    part, where a line feed would end it."""
    drive = world.connect("google_drive", ACME)
    world.apis.calls.clear()
    for mime_type in ["text/plain\n", "text/plain\r\n"]:
        body = {"name": "note.txt", "text": "hi", "mime_type": mime_type}
        _refused(world, world.run(drive, "upload_file", body, ACME), "mime_type")
    assert world.apis.state.files == {}


@pytest.mark.parametrize("key", ["plan][tier", "plan[x]", "]", ""])
def test_a_stripe_metadata_key_cannot_add_form_structure(world: World, key: str) -> None:
    """The form body writes metadata as ``metadata[<key>]=…``: a bracket in the key would
    nest or split it on Stripe's side (``metadata[plan][tier]``), which its keys may not
    hold (https://docs.stripe.com/api/metadata)."""
    stripe = world.connect("stripe", ACME)
    world.apis.calls.clear()
    body = {"email": "ann@example.com", "metadata": {key: "pro"}}
    _refused(world, world.run(stripe, "create_customer", body, ACME), "metadata")


def test_an_idempotency_key_ending_in_a_line_feed_is_refused(world: World) -> None:
    """A WSGI server may hand a header value on as it came: a key ending in a line feed is
    not 1 to 255 visible characters (a regex ``$`` also matches before a final line feed),
    and Stripe's create would carry it on in its own Idempotency-Key header."""
    stripe = world.connect("stripe", ACME)
    world.apis.calls.clear()
    answer = world.actions.post(
        f"/{stripe}/create_customer",
        json={"email": "ann@example.com"},
        headers=ACME,
        environ_overrides={"HTTP_IDEMPOTENCY_KEY": "create-ann\n"},
    )
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"]["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert world.apis.calls == []


def test_an_unknown_input_name_is_named_in_the_error_only_in_part(world: World) -> None:
    """The field an error names is the caller's own key: a 100,000-character one is shown
    cut short, not echoed whole into the answer (or an MCP tool error)."""
    hubspot = world.connect("hubspot", ACME)
    name = "x" * 100_000
    answer = world.run(hubspot, "create_contact", {"email": "a@example.com", name: 1}, ACME)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["details"]["field"].startswith("xxx")
    assert len(error["details"]["field"]) <= 100
    assert len(answer.get_data()) < 2_000


def test_a_pattern_anchored_at_the_end_refuses_a_final_line_feed(world: World) -> None:
    """JSON Schema reads patterns as ECMA-262 does: ``^[0-9]+$`` does not match
    ``"1500\\n"`` (Python's own ``$`` would, before a final line feed)."""
    hubspot = world.connect("hubspot", ACME)
    world.apis.calls.clear()
    body = {"name": "Deal", "amount": "1500.00\n"}
    _refused(world, world.run(hubspot, "create_deal", body, ACME), "amount")

"""Google Calendar actions a mapping cannot say.

``create_event`` with ``meet``: a Meet link is asked for with ``conferenceData.createRequest``
(a ``requestId`` unique per event: the caller's idempotency key when there is one, so a retry
asks for the same conference) and ``conferenceDataVersion=1``
(https://developers.google.com/calendar/api/guides/create-events#conferencing).

``find_availability``: ``freebusy.query`` answers the busy intervals of each calendar; the free
slots are the gaps of at least ``duration_minutes`` between their union and the range's ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tether.actions.mapping import path_segment
from tether.actions.provider_call import ActionFailed, ProviderCall
from tether.domain.errors import InvalidRequest
from tether.fetch.outcomes import OutcomeCode

__all__ = ["create_event", "event_body", "find_availability", "free_slots"]


def _when(value: str, time_zone: str | None) -> dict[str, str]:
    when = {"dateTime": value}
    if time_zone:
        when["timeZone"] = time_zone
    return when


def event_body(values: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    """The ``Event`` resource ``values`` describe."""
    body: dict[str, Any] = {
        "summary": values["summary"],
        "start": _when(values["start"], values.get("time_zone")),
        "end": _when(values["end"], values.get("time_zone")),
    }
    for field in ("description", "location", "attendees"):
        if values.get(field) is not None:
            body[field] = values[field]
    if values.get("meet"):
        body["conferenceData"] = {
            "createRequest": {
                "requestId": request_id,
                "conferenceSolutionKey": {"type": "hangoutsMeet"},
            }
        }
    return body


def create_event(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
    request_id = call.idempotency_key or call.ids()
    params = {"conferenceDataVersion": "1"} if values.get("meet") else {}
    if values.get("send_updates"):
        params["sendUpdates"] = values["send_updates"]
    calendar = path_segment(values.get("calendar_id") or "primary", "calendar_id")
    return call.json_object(
        "POST", f"/calendars/{calendar}/events", params=params, json=event_body(values, request_id)
    )


def _parse(value: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{field} must be an RFC 3339 time", code="INVALID_INPUT", details={"field": field}
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(
            f"{field} needs a UTC offset", code="INVALID_INPUT", details={"field": field}
        )
    return parsed


def _text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def free_slots(
    start: datetime, end: datetime, busy: list[tuple[datetime, datetime]], minimum: timedelta
) -> list[tuple[datetime, datetime]]:
    """The gaps of at least ``minimum`` in ``[start, end)`` outside every ``busy`` interval."""
    free: list[tuple[datetime, datetime]] = []
    cursor = start
    for busy_start, busy_end in sorted(busy):
        if busy_start > cursor and busy_start - cursor >= minimum:
            free.append((cursor, min(busy_start, end)))
        cursor = max(cursor, busy_end)
        if cursor >= end:
            break
    if end > cursor and end - cursor >= minimum:
        free.append((cursor, end))
    return [(a, b) for a, b in free if b - a >= minimum]


def _not_free_busy(call: ProviderCall) -> ActionFailed:
    return ActionFailed.of(
        OutcomeCode.PROVIDER_ERROR,
        "The provider's answer does not have the shape of a free/busy answer.",
        auth_kind=call.auth_kind,
    )


def _instant(interval: Any, end: str, call: ProviderCall) -> datetime:
    value = interval.get(end) if isinstance(interval, dict) else None
    if not isinstance(value, str):
        raise _not_free_busy(call)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _not_free_busy(call) from None
    if parsed.tzinfo is None:
        raise _not_free_busy(call)
    return parsed


def _busy_intervals(
    answer: Mapping[str, Any], call: ProviderCall
) -> list[tuple[datetime, datetime]]:
    """The busy intervals of a ``freebusy.query`` answer (``calendars`` → id → ``busy``, a
    list of ``{start, end}``). They are the provider's, not the caller's input: an answer of
    another shape is its error (502 ``PROVIDER_ERROR``), and one without its calendars is
    not read as a calendar with every slot free."""
    calendars = answer.get("calendars")
    if not isinstance(calendars, dict):
        raise _not_free_busy(call)
    busy: list[tuple[datetime, datetime]] = []
    for calendar in calendars.values():
        intervals = calendar.get("busy", []) if isinstance(calendar, dict) else None
        if not isinstance(intervals, list):
            raise _not_free_busy(call)
        busy.extend((_instant(i, "start", call), _instant(i, "end", call)) for i in intervals)
    return busy


def find_availability(values: Mapping[str, Any], call: ProviderCall) -> dict[str, Any]:
    start = _parse(values["time_min"], "time_min")
    end = _parse(values["time_max"], "time_max")
    if end <= start:
        raise InvalidRequest(
            "time_max must be after time_min", code="INVALID_INPUT", details={"field": "time_max"}
        )
    calendars = list(values.get("calendar_ids") or ["primary"])
    body: dict[str, Any] = {
        "timeMin": _text(start),
        "timeMax": _text(end),
        "items": [{"id": calendar} for calendar in calendars],
    }
    if values.get("time_zone"):
        body["timeZone"] = values["time_zone"]
    busy = _busy_intervals(call.json_object("POST", "/freeBusy", json=body), call)
    minimum = timedelta(minutes=int(values.get("duration_minutes") or 30))
    merged = free_slots(start, end, busy, minimum)
    return {
        "free": [{"start": _text(a), "end": _text(b)} for a, b in merged],
        "busy": [{"start": _text(a), "end": _text(b)} for a, b in sorted(busy)],
    }

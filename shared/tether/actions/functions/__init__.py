"""The registered functions of actions a declarative mapping cannot say, by the name the
catalog gives them (``function: gmail_send_email``). Each takes the validated input (defaults
applied) and the run's :class:`~tether.actions.provider_call.ProviderCall`, and returns the
output, which the runner checks against the action's output schema."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tether.actions.provider_call import ProviderCall

__all__ = ["ActionFunction", "action_functions"]

ActionFunction = Callable[[Mapping[str, Any], ProviderCall], dict[str, Any]]


def action_functions() -> dict[str, ActionFunction]:
    """Name → function (imported on first use: only a run of such an action pays)."""
    from tether.actions.functions import gmail, google_calendar, google_drive

    return {
        "gmail_send_email": gmail.send_email,
        "google_calendar_create_event": google_calendar.create_event,
        "google_calendar_find_availability": google_calendar.find_availability,
        "google_drive_upload_file": google_drive.upload_file,
        "google_drive_download_file": google_drive.download_file,
    }

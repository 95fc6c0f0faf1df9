"""Stripe list pagination (https://docs.stripe.com/api/pagination): a list object
``{"object": "list", "data": [...], "has_more": true}`` and no cursor in it; the next page is
``starting_after=<id of the last object>`` while ``has_more`` is true."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tether.catalog.sync_definition import SyncDefinition
from tether.http.pagination import get_path

__all__ = ["last_id_while_has_more"]


def last_id_while_has_more(
    body: Any, records: Sequence[Any], definition: SyncDefinition
) -> str | None:
    """The last record's id (``id_path``) when the page says ``has_more``; else ``None``."""
    if not isinstance(body, Mapping) or body.get("has_more") is not True or not records:
        return None
    last = get_path(records[-1], definition.id_path)
    if isinstance(last, bool) or not isinstance(last, str | int) or last == "":
        return None
    return str(last)

"""Deliveries that carry several events (Xero's ``events``, HubSpot's array body) and
deliveries that carry none but a handshake (Slack's ``url_verification``). Pure functions of
the catalog's :class:`~tether.catalog.WebhookSpec` and the parsed payload.

A batch is split into its items, each of which is routed, deduplicated, stored and delivered
as an event of its own: a Xero delivery may name several organisations, and routing the whole
delivery by its first event would hand the others' events to that one's tenant. An item is
stored as its own compact JSON text (:func:`item_body`), which is also what its dedupe key
hashes when the provider names no event id (Xero): the provider's retry of a delivery splits
into the same items, so each is recognised again.
"""

from __future__ import annotations

import json
from typing import Any

from tether.catalog.schema import WebhookSpec
from tether.domain.bounded_json import holds_lone_surrogate, utf8_of_json
from tether.webhooks.routing import field_text, field_value

__all__ = ["MAX_BATCH_ITEMS", "batch_items", "handshake_answer", "item_body"]

#: The most events one delivery may carry (HubSpot sends at most 100); more is refused (413).
MAX_BATCH_ITEMS = 1000
_WHOLE_BODY = "$"
_MAX_CHALLENGE_CHARS = 1024


def batch_items(spec: WebhookSpec, payload: Any) -> list[Any] | None:
    """The events of a batch delivery, in order; ``[]`` when it carries none (Xero's
    intent-to-receive check, ``{"events": []}``, or a list that is missing or not a list);
    ``None`` when the provider does not batch (``batch_path`` unset)."""
    if spec.batch_path is None:
        return None
    found = payload if spec.batch_path == _WHOLE_BODY else field_value(spec.batch_path, {}, payload)
    return list(found) if isinstance(found, list) else []


def item_body(item: Any) -> bytes:
    """One item as stored: compact JSON, keys in the order the provider sent them; a lone
    UTF-16 surrogate in it kept as its escape (``\\ud800``), as the provider sent it."""
    return utf8_of_json(json.dumps(item, separators=(",", ":"), ensure_ascii=False))[1]


def handshake_answer(spec: WebhookSpec, payload: Any) -> str | None:
    """The value to echo when the (verified) delivery is the provider's handshake, else
    ``None``. Its type must match exactly; a challenge that is not short text is no
    handshake (it is then taken as an event, and stored like one)."""
    handshake = spec.handshake
    if handshake is None:
        return None
    if field_text(handshake.type_path, {}, payload) != handshake.type_value:
        return None
    challenge = field_value(handshake.echo_path, {}, payload)
    if not isinstance(challenge, str) or not 0 < len(challenge) <= _MAX_CHALLENGE_CHARS:
        return None
    if holds_lone_surrogate(challenge):  # no answer could carry it
        return None
    return challenge

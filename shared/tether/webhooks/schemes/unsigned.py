"""``none``: deliveries that carry no signature. :meth:`UnsignedScheme.verify` accepts every
request, whatever its headers and whatever the secrets.

It exists only so a catalog entry or a tenant can *explicitly* say "this sender does not sign".
It is never a fallback: :func:`tether.webhooks.signatures.scheme_for` returns it for the name
``"none"`` and for nothing else (an unknown or empty name raises). Whether an unsigned delivery
may be accepted at all is the caller's decision, made before calling: e.g. only for a provider
whose catalog entry says ``scheme: none``, on an unguessable per-connection URL, and never in
place of a scheme whose verification failed. ``verifies`` is ``False`` so the caller can tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

from tether.webhooks.model import InboundRequest
from tether.webhooks.schemes._common import check_options, is_header_name

__all__ = ["UnsignedScheme"]


class UnsignedScheme:
    name: str = "none"
    event_id_header: str | None = None
    verifies: bool = False

    def __init__(self, *, event_id_header: str | None = None) -> None:
        if event_id_header is not None and not is_header_name(event_id_header):
            raise ValueError("webhook scheme 'none': event_id_header is not a header name")
        self.event_id_header = event_id_header.lower() if event_id_header else None

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> Self:
        opts = check_options("none", options, ("event_id_header",))
        return cls(event_id_header=opts.get("event_id_header"))

    def verify(self, request: InboundRequest, secrets: list[str], *, now: datetime) -> None:
        """Accepts everything: see the module docstring for when a caller may use this."""
        return

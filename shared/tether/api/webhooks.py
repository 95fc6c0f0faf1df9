"""HTTP routes of the ``webhooks`` function: where providers deliver events.

    POST /<token>                 a connection's own webhook URL
    POST /providers/<provider>    a provider's app-level webhook URL

Both are public (the sender proves itself by its signature, checked by
:class:`~tether.webhooks.intake.WebhookIntake`) and answer fast: 200
``{"ok": true, "duplicate": bool}`` once the event is stored and queued (``{"challenge": …}``
for a provider's verified handshake, Slack's ``url_verification``); 401 bad signature,
404 unknown URL, 413 body too large, 503 try again. Providers that require an answer without a
body (Xero) get the same statuses with no body on their app-level route. The request body is
read raw, capped, and never parsed here: signatures are computed over the exact bytes.

The token is a credential: the access log shows the path masked (``/…abcd``), and the token is
registered with the log redactor for the rest of the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.request_body import read_body
from tether.api.responses import body_response, encoded_body, encoded_response
from tether.api.routing import Router
from tether.api.schemas import WebhookAccepted, WebhookChallenge
from tether.domain.errors import TetherError
from tether.webhooks.model import InboundRequest

if TYPE_CHECKING:
    from tether.domain.clock import Clock
    from tether.webhooks.intake import Accepted, WebhookIntake

__all__ = ["FUNCTION", "Services", "handle", "lower_case_headers", "masked_path", "router"]

FUNCTION = "webhooks"
_PROVIDERS = "providers"
_MASK = "…"


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the intake service (built on first use), the clock that
    stamps a delivery's arrival, and Tether's public base URL (``TETHER_PUBLIC_URL``), for
    schemes that sign the URL (Twilio, Square, HubSpot); ``None``: the URL this instance saw."""

    intake: Callable[[], WebhookIntake]
    clock: Clock
    public_url: str | None


def masked_path(path: str) -> str:
    """The path as logged: ``/<token>`` → ``/…<last 4>``; provider routes as they are."""
    segments = [s for s in path.split("/") if s]
    if not segments or segments[0] == _PROVIDERS:
        return path
    return "/" + _MASK + segments[0][-4:] + ("/" + _MASK if len(segments) > 1 else "")


# The two CGI variables of a WSGI environ that carry headers without the ``HTTP_`` prefix, and
# their twins a client could send as ``HTTP_CONTENT_TYPE``... (ignored, as werkzeug does).
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}
_PREFIXED_TWINS = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})
# Each environ key's header name ("" for a key that is no header), worked out once per
# instance: the same few dozen keys come with every delivery. Keys past the bound (a sender
# inventing header names) are worked out each time and not kept.
_HEADER_NAMES: dict[str, str] = {}
_HEADER_NAMES_KEPT = 512


def _header_name(key: str) -> str:
    if key.startswith("HTTP_"):
        return "" if key in _PREFIXED_TWINS else key[5:].replace("_", "-").lower()
    return _UNPREFIXED.get(key, "")


def lower_case_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers with lower-case names, read from the WSGI environ (PEP 3333)
    as werkzeug's ``request.headers`` lists them, without its title-casing of every name that
    would be lower-cased again here: every delivery pays for this. (An empty
    ``CONTENT_TYPE`` or ``CONTENT_LENGTH`` is no header; an empty ``HTTP_`` one is.)"""
    headers: dict[str, str] = {}
    names = _HEADER_NAMES
    for key, value in environ.items():
        name = names.get(key)
        if name is None:
            name = _header_name(key)
            if len(names) < _HEADER_NAMES_KEPT:
                names[key] = name
        if name and (value or key.startswith("HTTP_")):
            headers[name] = value
    return headers


def _inbound(call: Call[Services], service: WebhookIntake) -> InboundRequest:
    """The delivery as received: raw body (at most the cap), lower-case header names, and the
    public URL the sender called (``<public URL>/webhooks<path>[?query]``; the URL this
    instance saw when no public URL is configured)."""
    request = call.request
    body = read_body(request, max_bytes=service.max_body_bytes)
    base = call.services.public_url
    if base:
        url = f"{base.rstrip('/')}/{FUNCTION}{request.path}"
        query = request.query_string.decode("latin-1")
        if query:
            url += "?" + query
    else:
        url = request.url
    return InboundRequest(
        method=request.method,
        url=url,
        headers=lower_case_headers(request.environ),
        body=body,
        received_at=call.services.clock.now(),
    )


@cache
def _accepted_body(duplicate: bool) -> str:
    """The answer to an accepted delivery: one of two constants, encoded once."""
    return encoded_body(WebhookAccepted(ok=True, duplicate=duplicate))


def _answer(accepted: Accepted) -> Response:
    if accepted.challenge is not None:
        return body_response(WebhookChallenge(challenge=accepted.challenge))
    return encoded_response(_accepted_body(accepted.duplicate))


def _bodyless(status: int) -> Response:
    """An answer without a body, for senders that require one (Xero: 200 or 401)."""
    response = Response(status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def by_token(call: Call[Services]) -> Response:
    service = call.services.intake()
    accepted = service.receive_for_token(call.params["token"], _inbound(call, service))
    return _answer(accepted)


def by_provider(call: Call[Services]) -> Response:
    service = call.services.intake()
    provider = call.params["provider"]
    if not service.replies_without_body(provider):
        accepted = service.receive_for_provider(provider, _inbound(call, service))
        return _answer(accepted)
    try:
        service.receive_for_provider(provider, _inbound(call, service))
    except TetherError as error:
        return _bodyless(error.http_status)
    return _bodyless(200)


router: Router[Services] = Router()
router.add("POST", f"/{_PROVIDERS}/:provider", by_provider, public=True)
router.add("POST", "/:token", by_token, public=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    """Serve one delivery."""
    return serve(FUNCTION, request, router, wiring, log_path=masked_path)

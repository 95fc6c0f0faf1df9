"""The authorization request (RFC 6749 §4.1.1): the URL the user's browser is sent to, and
the ``state`` that ties the callback to it."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from tether.oauth.model import OAuthClient

__all__ = ["RESERVED_AUTHORIZE_PARAMS", "authorization_url", "new_state", "state_hash"]

# Parameters Tether sets itself; neither the URL's own query nor ``extra_authorize_params``
# may replace them (the catalog schema refuses them in ``extra_authorize_params`` too).
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)

_STATE_BYTES = 32  # 256 bits


def authorization_url(
    client: OAuthClient,
    *,
    redirect_uri: str,
    state: str,
    scopes: Sequence[str],
    code_challenge: str | None,
) -> str:
    """The provider's authorization URL with the request's parameters added.

    A query already in ``client.authorization_url`` is kept (some providers put fixed
    parameters there), except for reserved names, which Tether sets. Then, in order:
    ``response_type=code``, ``client_id``, ``redirect_uri``, ``scope`` (the scopes joined
    with ``client.scope_separator``; omitted when there are none), ``state``,
    ``code_challenge`` and ``code_challenge_method=S256`` (only when ``client.pkce`` and a
    challenge is given), and finally ``client.extra_authorize_params`` (reserved names
    ignored; a name also present in the URL's query replaces it there). Values are
    percent-encoded (a space as ``%20``). A fragment is dropped: RFC 6749 §3.1 forbids one.
    """
    parts = urlsplit(client.authorization_url)
    extra = {
        k: v for k, v in client.extra_authorize_params.items() if k not in RESERVED_AUTHORIZE_PARAMS
    }
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name not in RESERVED_AUTHORIZE_PARAMS and name not in extra
    ]
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", client.client_id),
        ("redirect_uri", redirect_uri),
    ]
    scope_list = [s for s in scopes if s]
    if scope_list:
        params.append(("scope", client.scope_separator.join(scope_list)))
    params.append(("state", state))
    if client.pkce and code_challenge:
        params.append(("code_challenge", code_challenge))
        params.append(("code_challenge_method", "S256"))
    params.extend(extra.items())
    query = urlencode([*kept, *params], quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def new_state() -> str:
    """A fresh, unguessable ``state`` value: 256 random bits, URL-safe base64."""
    return secrets.token_urlsafe(_STATE_BYTES)


def state_hash(state: str) -> str:
    """The SHA-256 hex digest under which a pending ``state`` is stored (never the state
    itself, so a leaked store cannot complete someone's authorization)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()

"""The post-connect step of a provider whose webhooks name an account the token response does
not (the catalog's ``auth.post_connect``, a :class:`~tether.catalog.schema.RouteLookup`):
right after the code exchange, one GET with the new access token lists the accounts the grant
reaches, and the connection's ``webhook_route`` is the one chosen among them.

* Xero: ``GET https://api.xero.com/connections`` answers the organisations (``tenantId``) the
  user authorised; a Xero webhook names its organisation by that ``tenantId``.
* GitHub App: ``GET https://api.github.com/user/installations`` answers the app's
  installations the user can reach (``installations[].id``), a page at a time (at most 100,
  the next one named by the ``Link`` header); an app's webhook names its ``installation.id``.

* HubSpot: ``GET /oauth/v1/access-tokens/{token}`` on the API's host answers the token's
  metadata, whose ``hub_id`` is the one account (portal) it belongs to; each item of a HubSpot
  webhook batch names its ``portalId``. The token is in that URL's path: it is registered for
  log redaction (:func:`tether.logs.register_secret`) before the call, and the lookup's own
  warnings name the provider, never the URL.

An answer with a ``Link: <...>; rel="next"`` header (RFC 8288) is followed to its next page,
up to :data:`MAX_PAGES` pages, and only on the lookup URL's own origin: the new access token
goes nowhere the catalog did not name. The accounts of every page read are the list.

The choice (:func:`choose_route`, pure): the tenant's (the config property), else the one the
provider's redirect named (a callback parameter, GitHub's ``installation_id``), else the only
one; a named account that is not in the provider's list for this token is refused, so naming
another tenant's account routes nothing. The lookup never fails a connection: when it cannot
be made or chooses nothing, the connection is stored without a route (its app-level events
stay unroutable), and a reconnect tries again.

Hand-written rather than through :class:`~tether.http.client.OutboundClient`: like the token
exchange it runs inside the OAuth callback with a token not stored yet, on the catalog's fixed
URL, through the same guarded ``httpx.Client`` as the token endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from tether.catalog.schema import ACCESS_TOKEN_PLACEHOLDER, OAuth2Auth, RouteLookup, WebhookSpec
from tether.logs import register_secret

if TYPE_CHECKING:
    import httpx

    from tether.catalog import Provider

__all__ = [
    "MAX_PAGES",
    "POST_CONNECT",
    "AccountLookup",
    "LearnedRoute",
    "choose_route",
    "lookup_url",
]

log = logging.getLogger("tether.oauth")

#: The ``webhook_route_from`` value that asks for the lookup.
POST_CONNECT = "post_connect"
_MAX_ANSWER_BYTES = 1024 * 1024
_WHOLE_ANSWER = "$"
#: The most pages of accounts one lookup reads (GitHub: 100 installations a page).
MAX_PAGES = 10


@dataclass(frozen=True)
class LearnedRoute:
    """The route chosen (``None``: none) and the config properties to set with it."""

    route: str | None
    config: dict[str, Any] = field(default_factory=dict)


def choose_route(
    spec: WebhookSpec,
    lookup: RouteLookup,
    answer: Any,
    *,
    config: Mapping[str, Any],
    query: Mapping[str, str],
) -> LearnedRoute:
    """The route among the accounts ``answer`` lists (see the module docstring)."""
    return _choose_among(spec, lookup, _items(lookup, answer), config=config, query=query)


def _items(lookup: RouteLookup, answer: Any) -> list[Any]:
    """The accounts one answer lists (none when it lists nothing at ``items_path``)."""
    from tether.webhooks.routing import field_value

    if lookup.one_account:
        return [answer] if isinstance(answer, dict) else []
    whole = lookup.items_path == _WHOLE_ANSWER
    items = answer if whole else field_value(lookup.items_path, {}, answer)
    return list(items) if isinstance(items, list) else []


def _choose_among(
    spec: WebhookSpec,
    lookup: RouteLookup,
    items: list[Any],
    *,
    config: Mapping[str, Any],
    query: Mapping[str, str],
) -> LearnedRoute:
    from tether.webhooks.routing import field_value, normalize_route

    listed: list[str] = []
    for item in items:
        value = normalize_route(spec, field_value(lookup.value_path, {}, item))
        if value is not None and value not in listed:
            listed.append(value)
    prop = lookup.config_property
    if prop is not None and config.get(prop) is not None:
        named = normalize_route(spec, config.get(prop))
        return LearnedRoute(named if named in listed else None)
    hinted = query.get(lookup.callback_param) if lookup.callback_param is not None else None
    if hinted is not None:
        route = normalize_route(spec, hinted)
    else:
        route = listed[0] if len(listed) == 1 else None
    if route is None or route not in listed:
        return LearnedRoute(None)
    return LearnedRoute(route, {prop: route} if prop is not None else {})


def lookup_url(lookup: RouteLookup, *, api_base_url: str | None, access_token: str) -> str:
    """The URL to call: a path joined to the origin of ``api_base_url`` (the catalog refuses a
    path when that URL is not fixed), ``{access_token}`` replaced by the token, URL-encoded."""
    url = lookup.url
    if url.startswith("/"):
        api = urlsplit(api_base_url or "")
        url = f"{api.scheme}://{api.netloc}{url}"
    return url.replace(ACCESS_TOKEN_PLACEHOLDER, quote(access_token, safe=""), 1)


class AccountLookup:
    """Runs a provider's post-connect lookup through ``http`` (the guarded client of the token
    endpoint; in tests one over ``httpx.MockTransport``)."""

    def __init__(self, http: httpx.Client, *, timeout: float = 10.0) -> None:
        self._http = http
        self._timeout = timeout

    def learn(
        self,
        provider: Provider,
        *,
        access_token: str,
        config: Mapping[str, Any],
        query: Mapping[str, str],
    ) -> LearnedRoute:
        """The route of a connection just granted ``access_token``; ``LearnedRoute(None)``
        when the provider has no lookup, or it failed or chose nothing (logged)."""
        auth, spec = provider.auth, provider.webhook
        if not isinstance(auth, OAuth2Auth) or auth.post_connect is None or spec is None:
            return LearnedRoute(None)
        lookup = auth.post_connect
        register_secret(access_token)
        register_secret(quote(access_token, safe=""))
        items = self._pages(provider, auth, lookup, access_token)
        if items is None:
            return LearnedRoute(None)
        learned = _choose_among(spec, lookup, items, config=config, query=query)
        if learned.route is None:
            log.warning(
                "the provider's accounts named no single one for this connection; its "
                "app-level webhooks will not reach it%s",
                f" (set config {lookup.config_property} and reconnect)"
                if lookup.config_property
                else "",
                extra={"provider": provider.key},
            )
        return learned

    def _pages(
        self, provider: Provider, auth: OAuth2Auth, lookup: RouteLookup, access_token: str
    ) -> list[Any] | None:
        """The accounts of every page, following ``rel="next"`` on the lookup's origin up to
        :data:`MAX_PAGES`; ``None`` when the first page failed (a later page failing keeps
        what was read: the choice among fewer accounts can only choose less)."""
        from tether.http.origin import origin_of
        from tether.http.pagination import next_link

        items: list[Any] = []
        first = lookup_url(lookup, api_base_url=provider.api_base_url, access_token=access_token)
        url: str | None = first
        for page in range(MAX_PAGES):
            if url is None:
                return items
            got = self._get(provider, auth, url, access_token)
            if got is None:
                return None if page == 0 else items
            answer, headers = got
            items.extend(_items(lookup, answer))
            following = next_link(headers, url)
            if following is not None and origin_of(following) != origin_of(first):
                log.warning(
                    "the account lookup of %s names a next page elsewhere; not followed",
                    provider.key,
                    extra={"provider": provider.key},
                )
                following = None
            url = following
        if url is not None:
            log.warning(
                "the account lookup of %s has more than %d pages; read the first %d",
                provider.key,
                MAX_PAGES,
                MAX_PAGES,
                extra={"provider": provider.key},
            )
        return items

    def _get(
        self, provider: Provider, auth: OAuth2Auth, url: str, access_token: str
    ) -> tuple[Any, Mapping[str, str]] | None:
        """One page: its JSON and its response headers; ``None`` when it failed (logged)."""
        import httpx  # loaded with the token endpoint already; not at the flow's import

        headers = {
            "Accept": "application/json",
            **provider.headers,
            auth.token_header: f"{auth.token_prefix}{access_token}",
        }
        try:
            request = self._http.build_request("GET", url, headers=headers, timeout=self._timeout)
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                answered = response.headers
                body = _read(response) if status == 200 else b""
            finally:
                response.close()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "the account lookup of %s failed (%s)",
                provider.key,
                type(exc).__name__,
                extra={"provider": provider.key},
            )
            return None
        if status != 200 or body is None:
            log.warning(
                "the account lookup of %s answered HTTP %s",
                provider.key,
                status,
                extra={"provider": provider.key},
            )
            return None
        try:
            return json.loads(body), answered
        except (ValueError, RecursionError):
            log.warning("the account lookup of %s answered no JSON", provider.key)
            return None


def _read(response: httpx.Response) -> bytes | None:
    """The body, or ``None`` past the size limit."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > _MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)

"""The post-connect choice of a connection's webhook route among the accounts its grant
reaches (pure), over the answers' published shapes: Xero's ``getConnections``
(https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-identity.yaml) and GitHub's "List
app installations accessible to the user access token"
(https://docs.github.com/en/rest/apps/installations); GitHub's pages followed by their
``Link`` header (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-
rest-api), within a bound and on GitHub's origin only; and what the catalog accepts."""

from __future__ import annotations

import io
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from tether.catalog import load_catalog
from tether.catalog.schema import OAuth2Auth, Provider, RouteLookup, WebhookSpec
from tether.logs import JsonFormatter, secret_scope
from tether.oauth.route_lookup import (
    MAX_PAGES,
    AccountLookup,
    LearnedRoute,
    choose_route,
    lookup_url,
)

log = logging.getLogger(__name__)

XERO_A = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
XERO_B = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"


def _parts(key: str) -> tuple[WebhookSpec, RouteLookup]:
    entry = load_catalog().get(key)
    assert isinstance(entry.auth, OAuth2Auth)
    assert entry.webhook is not None and entry.auth.post_connect is not None
    return entry.webhook, entry.auth.post_connect


def _xero(*tenants: str) -> list[dict[str, Any]]:
    return [
        {"id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44", "tenantId": t, "tenantType": "ORGANISATION"}
        for t in tenants
    ]


def test_xero_takes_the_only_organisation_and_learns_it() -> None:
    spec, lookup = _parts("xero")
    assert choose_route(spec, lookup, _xero(XERO_A), config={}, query={}) == LearnedRoute(
        XERO_A, {"tenant_id": XERO_A}
    )


def test_xero_takes_the_chosen_organisation_only_when_the_grant_reaches_it() -> None:
    spec, lookup = _parts("xero")
    both = _xero(XERO_A, XERO_B)
    chosen = choose_route(spec, lookup, both, config={"tenant_id": XERO_B}, query={})
    assert chosen == LearnedRoute(XERO_B)
    assert choose_route(spec, lookup, _xero(XERO_A), config={"tenant_id": XERO_B}, query={}) == (
        LearnedRoute(None)
    )
    assert choose_route(spec, lookup, both, config={}, query={}) == LearnedRoute(None)


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {},
        None,
        "text",
        [{"tenantId": True}, {"tenantId": ""}, {"id": XERO_A}],
        {"tenantId": XERO_A},
        # half a UTF-16 pair (legal JSON, "\ud800"): no text a connection could store
        [{"tenantId": "fe79f7dd-\ud800"}],
    ],
)
def test_answers_listing_no_usable_account_choose_nothing(answer: Any) -> None:
    spec, lookup = _parts("xero")
    assert choose_route(spec, lookup, answer, config={}, query={}) == LearnedRoute(None)


def test_github_takes_the_installation_its_redirect_names_among_the_users() -> None:
    spec, lookup = _parts("github")
    answer = {"total_count": 2, "installations": [{"id": 4242}, {"id": 777}]}
    hinted = choose_route(spec, lookup, answer, config={}, query={"installation_id": "777"})
    assert hinted == LearnedRoute("777", {"installation_id": "777"})
    stranger = choose_route(spec, lookup, answer, config={}, query={"installation_id": "1"})
    assert stranger == LearnedRoute(None)
    chosen = choose_route(
        spec, lookup, answer, config={"installation_id": "4242"}, query={"installation_id": "777"}
    )
    assert chosen == LearnedRoute("4242")  # the tenant's choice wins over the redirect
    single = {"total_count": 1, "installations": [{"id": 4242}]}
    assert choose_route(spec, lookup, single, config={}, query={}).route == "4242"


def test_the_catalog_keeps_post_connect_and_its_route_source_together() -> None:
    entry = load_catalog().get("xero").model_dump()
    entry["auth"]["post_connect"] = None
    with pytest.raises(ValidationError, match="post_connect"):
        Provider.model_validate(entry)
    entry = load_catalog().get("xero").model_dump()
    entry["auth"]["post_connect"]["config_property"] = "organisation"
    with pytest.raises(ValidationError, match="organisation"):
        Provider.model_validate(entry)
    entry = load_catalog().get("xero").model_dump()
    entry["auth"]["post_connect"]["url"] = "https://{region}.xero.com/connections"
    with pytest.raises(ValidationError):  # the token goes there: no config may move it
        Provider.model_validate(entry)


# -- GitHub's pages ------------------------------------------------------------------------------

GITHUB_TOKEN = "ghu_user-token-0123456789"


class Installations:
    """GitHub's "List app installations accessible to the user access token", ``per`` a page,
    each page's ``Link`` header naming the next and the last as GitHub writes it; every
    request kept (URL and the token it carried)."""

    def __init__(self, ids: list[int], *, per: int = 100, next_host: str | None = None) -> None:
        self.ids = ids
        self.per = per
        self.next_host = next_host
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((str(request.url), request.headers.get("authorization")))
        query = parse_qs(urlsplit(str(request.url)).query)
        page = int(query.get("page", ["1"])[0])
        chunk = self.ids[(page - 1) * self.per : page * self.per]
        pages = max(1, -(-len(self.ids) // self.per))
        headers = {}
        if page < pages:
            host = self.next_host or "api.github.com"
            base = f"https://{host}/user/installations?per_page={self.per}"
            headers["Link"] = (
                f'<{base}&page={page + 1}>; rel="next", <{base}&page={pages}>; rel="last"'
            )
        body = {"total_count": len(self.ids), "installations": [{"id": i} for i in chunk]}
        return httpx.Response(200, json=body, headers=headers)


def _learn(api: Installations, **query: str) -> LearnedRoute:
    lookup = AccountLookup(httpx.Client(transport=httpx.MockTransport(api)))
    return lookup.learn(
        load_catalog().get("github"), access_token=GITHUB_TOKEN, config={}, query=query
    )


def test_github_installations_past_the_first_page_are_read() -> None:
    api = Installations(list(range(1000, 1250)))
    learned = _learn(api, installation_id="1234")
    assert learned == LearnedRoute("1234", {"installation_id": "1234"})
    assert len(api.seen) == 3
    assert all(token == f"Bearer {GITHUB_TOKEN}" for _, token in api.seen)
    assert [parse_qs(urlsplit(url).query).get("page") for url, _ in api.seen] == [
        None,
        ["2"],
        ["3"],
    ]


def test_github_one_installation_on_one_page_is_taken() -> None:
    api = Installations([4242])
    assert _learn(api) == LearnedRoute("4242", {"installation_id": "4242"})
    assert len(api.seen) == 1


def test_github_pages_are_read_up_to_the_bound() -> None:
    api = Installations(list(range(1, 1 + (MAX_PAGES + 5) * 2)), per=2)
    beyond = str((MAX_PAGES + 2) * 2)
    assert _learn(api, installation_id=beyond) == LearnedRoute(None)
    assert len(api.seen) == MAX_PAGES
    within = str(MAX_PAGES * 2)
    assert _learn(Installations(api.ids, per=2), installation_id=within).route == within


def test_a_next_page_on_another_origin_is_not_followed() -> None:
    """The user's token goes to the catalog's origin only, whatever a Link header says."""
    api = Installations(list(range(1, 201)), next_host="evil.example")
    assert _learn(api, installation_id="150") == LearnedRoute(None)
    assert [urlsplit(url).hostname for url, _ in api.seen] == ["api.github.com"]
    assert _learn(Installations(list(range(1, 201))), installation_id="150").route == "150"


# HubSpot's AccessTokenInfoResponse ("Retrieve OAuth token metadata", Auth/Oauth v1 of
# https://github.com/HubSpot/HubSpot-public-api-spec-collection): one portal per token.
HUBSPOT_TOKEN_INFO = {
    "token": "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4",
    "user": "ada@example.com",
    "hub_domain": "demo.hubspot.com",
    "scopes": ["oauth", "crm.objects.contacts.read"],
    "hub_id": 62515,
    "app_id": 456,
    "expires_in": 1754,
    "user_id": 123,
    "token_type": "access",
}


def test_hubspot_takes_the_portal_its_token_belongs_to() -> None:
    spec, lookup = _parts("hubspot")
    assert choose_route(spec, lookup, HUBSPOT_TOKEN_INFO, config={}, query={}) == (
        LearnedRoute("62515")
    )
    for answer in ([HUBSPOT_TOKEN_INFO], {"hub_id": None}, {"hub_id": True}, None, []):
        assert choose_route(spec, lookup, answer, config={}, query={}) == LearnedRoute(None)


def test_a_lookup_path_is_on_the_api_host_with_the_token_encoded() -> None:
    _, lookup = _parts("hubspot")
    url = lookup_url(lookup, api_base_url="https://api.hubapi.com", access_token="a/b c?d")
    assert url == "https://api.hubapi.com/oauth/v1/access-tokens/a%2Fb%20c%3Fd"
    local = lookup_url(lookup, api_base_url="http://127.0.0.1:8123", access_token="tok")
    assert local == "http://127.0.0.1:8123/oauth/v1/access-tokens/tok"
    _, xero = _parts("xero")
    xero_api = "https://api.xero.com/api.xro/2.0"
    assert lookup_url(xero, api_base_url=xero_api, access_token="t") == (
        "https://api.xero.com/connections"
    )
    _, github = _parts("github")
    fixed = lookup_url(github, api_base_url="http://127.0.0.1:8123", access_token="t")
    assert fixed == "https://api.github.com/user/installations?per_page=100"


@pytest.mark.parametrize(
    "url",
    [
        "https://{access_token}.hubapi.com/oauth",  # not in the path
        "/oauth/v1/access-tokens?token={access_token}",
        "/oauth/{hub}/{access_token}",
        "oauth/v1/access-tokens/{access_token}",
        "http://api.hubapi.com/oauth/v1/access-tokens/{access_token}",
    ],
)
def test_the_catalog_refuses_a_lookup_url_but_a_fixed_one(url: str) -> None:
    entry = load_catalog().get("hubspot").model_dump()
    entry["auth"]["post_connect"]["url"] = url
    with pytest.raises(ValidationError, match=r"only \{access_token\} in its path"):
        Provider.model_validate(entry)


def test_a_lookup_path_needs_an_api_base_url_no_config_moves() -> None:
    entry = load_catalog().get("hubspot").model_dump()
    entry["api_base_url"] = "https://{portal}.hubapi.com"
    entry["config_schema"] = {
        "type": "object",
        "additionalProperties": False,
        "required": [],
        "properties": {
            "portal": {
                "type": "string",
                "title": "Portal",
                "description": "A portal.",
                "pattern": "^[a-z]+$",
            }
        },
    }
    with pytest.raises(ValidationError, match="api_base_url must be fixed https"):
        Provider.model_validate(entry)
    entry["auth"]["post_connect"]["url"] = (
        "https://api.hubapi.com/oauth/v1/access-tokens/{access_token}"
    )
    assert Provider.model_validate(entry).api_base_url == "https://{portal}.hubapi.com"


def test_one_account_is_the_whole_answer() -> None:
    entry = load_catalog().get("hubspot").model_dump()
    entry["auth"]["post_connect"]["items_path"] = "results"
    with pytest.raises(ValidationError, match="one_account"):
        Provider.model_validate(entry)


TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4"


@pytest.mark.parametrize("outcome", ["answered", "refused", "unreachable"])
def test_the_token_in_the_lookup_url_is_never_logged(outcome: str) -> None:
    """httpx logs each request's URL at INFO when an application lets it (Tether's own
    logging turns it down to WARNING; a host application may not), and so may a transport:
    every line Tether's log formatter writes masks the token, whatever the lookup's outcome."""
    seen: list[str] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        log.info("a transport that logs its URLs: GET %s", request.url)
        if outcome == "unreachable":
            raise httpx.ConnectError(f"cannot reach {request.url}", request=request)
        if outcome == "refused":
            return httpx.Response(401, json={"message": f"bad token {TOKEN}"})
        return httpx.Response(200, json={**HUBSPOT_TOKEN_INFO, "token": TOKEN})

    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(JsonFormatter())
    root, wire = logging.getLogger(), logging.getLogger("httpx")
    levels = (root.level, wire.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    wire.setLevel(logging.DEBUG)
    try:
        with secret_scope(), httpx.Client(transport=httpx.MockTransport(provider)) as http:
            learned = AccountLookup(http).learn(
                load_catalog().get("hubspot"), access_token=TOKEN, config={}, query={}
            )
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        wire.setLevel(levels[1])
    assert seen == [f"https://api.hubapi.com/oauth/v1/access-tokens/{TOKEN}"]
    assert learned == LearnedRoute("62515" if outcome == "answered" else None)
    lines = written.getvalue()
    assert "access-tokens/[REDACTED]" in lines
    if outcome != "unreachable":
        assert "HTTP Request: GET https://api.hubapi.com/oauth/v1/access-tokens/[REDACTED]" in lines
    assert TOKEN not in lines

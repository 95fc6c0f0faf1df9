"""The post-connect choice of a connection's webhook route among the accounts its grant
reaches (pure), over the answers' published shapes: Xero's ``getConnections``
(https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-identity.yaml) and GitHub's "List
app installations accessible to the user access token"
(https://docs.github.com/en/rest/apps/installations); GitHub's pages followed by their
``Link`` header (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-
rest-api), within a bound and on GitHub's origin only; and what the catalog accepts."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from tether.catalog import load_catalog
from tether.catalog.schema import OAuth2Auth, Provider, RouteLookup, WebhookSpec
from tether.oauth.route_lookup import MAX_PAGES, AccountLookup, LearnedRoute, choose_route

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

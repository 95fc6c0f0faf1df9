"""The post-connect choice of a connection's webhook route among the accounts its grant
reaches (pure), over the answers' published shapes: Xero's ``getConnections``
(https://github.com/XeroAPI/Xero-OpenAPI/blob/master/xero-identity.yaml) and GitHub's "List
app installations accessible to the user access token"
(https://docs.github.com/en/rest/apps/installations); and what the catalog accepts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tether.catalog import load_catalog
from tether.catalog.schema import OAuth2Auth, Provider, RouteLookup, WebhookSpec
from tether.oauth.route_lookup import LearnedRoute, choose_route

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

"""The provider API simulators over real HTTP on loopback: HubSpot's token metadata (``GET
/oauth/v1/access-tokens/{token}``, checked against HubSpot's published description) takes the
token in its path, answers the simulated portal for a live token and 401 for any other, and
the request line the server logs shows no token."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tether_emulators.provider_apis import ProviderApis
from tether_emulators.provider_descriptions import load_descriptions

LIVE = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2"


@pytest.fixture
def apis() -> Iterator[ProviderApis]:
    with ProviderApis([load_descriptions()["hubspot"]], accepts=lambda t: t == LIVE) as started:
        yield started


def test_hubspot_token_metadata_names_the_portal_of_a_live_token(
    apis: ProviderApis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tether_emulators.http")
    with httpx.Client(base_url=apis.url, timeout=10) as http:
        answer = http.get(f"/oauth/v1/access-tokens/{LIVE}")  # no Authorization header
        other = http.get("/oauth/v1/access-tokens/not-a-live-token")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["hub_id"], body["token"]) == (apis.state.hubspot_portal, LIVE)
    assert other.status_code == 401
    assert apis.rejected == []
    assert apis.count("get-/oauth/v1/access-tokens/{token}_get") == 2
    lines = [record.getMessage() for record in caplog.records]
    assert any("/oauth/v1/access-tokens/[REDACTED]" in line for line in lines), lines
    assert not any(LIVE in line or "not-a-live-token" in line for line in lines)


def test_xero_lists_the_organisations_a_grant_reaches_at_either_case_of_its_path() -> None:
    """Xero's identity API (``getConnections``): the organisations the simulated Xero knows,
    at ``/connections`` as Xero's guide writes it and ``/Connections`` as its description
    does; a query parameter the description does not declare is refused, a bad token is 401."""
    tenant = "0b6ad5a2-3e41-4c6b-9a43-0b5e0c3d2f11"
    documents = load_descriptions()
    described = [documents["xero"], documents["xero_identity"]]
    with (
        ProviderApis(described, accepts=lambda t: t == LIVE) as apis,
        httpx.Client(base_url=apis.url, headers={"Authorization": f"Bearer {LIVE}"}) as http,
    ):
        apis.state.xero_tenants.add(tenant)
        lower, upper = http.get("/connections"), http.get("/Connections")
        event = lower.json()[0]["authEventId"]
        filtered = http.get("/connections", params={"authEventId": event})
        other_event = http.get("/connections", params={"authEventId": str(uuid.uuid4())})
        undeclared = http.get("/connections", params={"tenantId": tenant})
        unauthorised = http.get("/connections", headers={"Authorization": "Bearer nope"})
    assert lower.status_code == upper.status_code == filtered.status_code == 200, lower.text
    assert [c["tenantId"] for c in lower.json()] == [tenant]
    assert lower.json() == upper.json() == filtered.json()
    assert lower.json()[0]["tenantType"] == "ORGANISATION"
    assert other_event.json() == []
    assert undeclared.status_code == 400 and "tenantId" in undeclared.text
    assert unauthorised.status_code == 401
    assert apis.count("getConnections") == 5
    assert [call.path for call in apis.rejected] == ["/connections"]


def test_paths_are_compared_with_case_only_where_the_description_says_so() -> None:
    """HubSpot's description is case-sensitive: ``/CRM/v3/...`` is no operation of it."""
    with (
        ProviderApis([load_descriptions()["hubspot"]], accepts=lambda t: t == LIVE) as apis,
        httpx.Client(base_url=apis.url, headers={"Authorization": f"Bearer {LIVE}"}) as http,
    ):
        answer = http.get("/CRM/v3/objects/contacts")
    assert answer.status_code == 400
    assert "no operation" in answer.text

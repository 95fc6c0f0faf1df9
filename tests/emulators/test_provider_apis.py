"""The provider API simulators over real HTTP on loopback: HubSpot's token metadata (``GET
/oauth/v1/access-tokens/{token}``, checked against HubSpot's published description) takes the
token in its path, answers the simulated portal for a live token and 401 for any other, and
the request line the server logs shows no token."""

from __future__ import annotations

import logging
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

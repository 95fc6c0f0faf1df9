"""The connection test of a catalog entry judges the vendor's own answers as the vendor
documents them: a provider that reports a failed login inside an HTTP 200 (pCloud's ``result``
code) must not be called connected. Each case is the entry's real test request, evaluated
against an answer shaped like the vendor's documented one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tether.catalog import Catalog
from tether.catalog.loader import parse_packaged
from tether.fetch.http_probe import evaluate_response, http_probe_for
from tether.fetch.outcomes import OutcomeCode, SampleRedactor
from tether.http.model import OutboundResponse


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged(check_json_schema=False)


def _verdict(
    catalog: Catalog, key: str, config: dict[str, Any], status: int, body: Any
) -> OutcomeCode:
    probe = http_probe_for(catalog.get(key), config)
    assert probe is not None
    response = OutboundResponse(
        status=status,
        headers={"Content-Type": "application/json"},
        content=json.dumps(body).encode(),
        url=probe.url,
        elapsed_ms=5,
    )
    return evaluate_response(probe, response, SampleRedactor()).code


# https://docs.pcloud.com/methods/general/userinfo.html: a success carries result 0 and the
# user; a refused login is an error code in the answer (1000, 2000), and pCloud's own SDK
# judges every answer by that code, not by the HTTP status.
PCLOUD = {"api_host": "eapi.pcloud.com"}


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"result": 0, "userid": 1234, "email": "a@example.com", "quota": 10}, OutcomeCode.OK),
        ({"result": 2000, "error": "Log in failed."}, OutcomeCode.INVALID_CREDENTIALS),
        ({"result": 1000, "error": "Log in required."}, OutcomeCode.INVALID_CREDENTIALS),
        (
            {"result": 4000, "error": "Too many login tries from this IP address."},
            OutcomeCode.RATE_LIMITED,
        ),
    ],
)
def test_pcloud_is_connected_only_when_userinfo_names_the_user(
    catalog: Catalog, body: dict[str, Any], verdict: OutcomeCode
) -> None:
    """Connected only with the user named; a refused login says the credentials are wrong
    (reconnect), too many tries says to wait: not a provider error to retry blindly."""
    assert _verdict(catalog, "pcloud", PCLOUD, 200, body) == verdict
    probe = http_probe_for(catalog.get("pcloud"), PCLOUD)
    assert probe is not None and probe.url == "https://eapi.pcloud.com/userinfo"

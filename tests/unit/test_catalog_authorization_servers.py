"""A catalog entry's authorization server answered elsewhere (`tether dev --simulators`):
only OAuth2 entries, only their endpoints and issuer, never outside `tether dev`."""

from __future__ import annotations

import json

import pytest

from tether.catalog import OAuth2Auth, load_catalog
from tether.catalog.authorization_servers import with_authorization_servers
from tether.config import Settings
from tether.domain.errors import ConfigurationError
from tether.infrastructure import Infrastructure

LOCAL = {
    "authorization_url": "http://127.0.0.1:9001/authorize",
    "token_url": "http://127.0.0.1:9001/token",
    "revocation_url": "http://127.0.0.1:9001/revoke",
    "issuer": "http://127.0.0.1:9001",
}


def test_an_entry_authorizes_at_the_stand_in_and_the_others_do_not_move() -> None:
    catalog = load_catalog()
    moved = with_authorization_servers(catalog, {"hubspot": LOCAL, "gmail": LOCAL})
    for key in ("hubspot", "gmail"):
        auth = moved.get(key).auth
        assert isinstance(auth, OAuth2Auth)
        assert (auth.authorization_url, auth.token_url, auth.revocation_url, auth.issuer) == (
            LOCAL["authorization_url"],
            LOCAL["token_url"],
            LOCAL["revocation_url"],
            LOCAL["issuer"],
        )
        original = catalog.get(key).auth
        assert isinstance(original, OAuth2Auth)
        assert auth.default_scopes == original.default_scopes
        assert moved.get(key).api_base_url == catalog.get(key).api_base_url
    assert moved.get("google_calendar") == catalog.get("google_calendar")
    assert moved.keys() == catalog.keys()


@pytest.mark.parametrize(
    "endpoints",
    [
        {"no_such_provider": LOCAL},
        {"stripe": LOCAL},  # an API key entry has no authorization server
        {"hubspot": {**LOCAL, "client_secret": "x"}},
        {"hubspot": {"token_url": ""}},
    ],
)
def test_anything_else_is_refused_at_start_up(endpoints: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        with_authorization_servers(load_catalog(), endpoints)
    assert refused.value.code == "CATALOG_INVALID"


def test_the_setting_reaches_the_catalog_in_dev_and_is_refused_in_the_cloud() -> None:
    value = json.dumps({"hubspot": LOCAL})
    dev = Settings.from_env(
        {
            "TETHER_MODE": "dev",
            "TETHER_AUTH": "dev",
            "TETHER_CATALOG_AUTHORIZATION_SERVERS": value,
        }
    )
    auth = Infrastructure(dev).catalog.get("hubspot").auth
    assert isinstance(auth, OAuth2Auth) and auth.token_url == LOCAL["token_url"]
    cloud = Settings.from_env(
        {
            "TETHER_FIREBASE_PROJECT": "p",
            "TETHER_KEYRING": "{}",
            "TETHER_CATALOG_AUTHORIZATION_SERVERS": value,
        }
    )
    with pytest.raises(ConfigurationError, match="only allowed with `tether dev`"):
        cloud.check()

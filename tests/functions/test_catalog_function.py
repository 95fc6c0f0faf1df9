"""The public ``catalog`` function over HTTP."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.functions.conftest import SOURCE
from tether.bootstrap import reset_container
from tether.domain.errors import ConfigurationError


def test_lists_providers_without_auth(catalog_client: FlaskClient) -> None:
    response = catalog_client.get("/")
    assert response.status_code == 200
    providers = response.get_json()["providers"]
    assert len(providers) >= 40
    keys = {p["key"] for p in providers}
    assert {"stripe", "google_drive", "xero", "shopify", "rest_api", "postgresql"} <= keys
    first = providers[0]
    assert {"key", "display_name", "auth_mode", "categories", "regions"} <= first.keys()


def test_filters(catalog_client: FlaskClient) -> None:
    oauth = catalog_client.get("/?auth_mode=oauth2").get_json()["providers"]
    assert oauth and all(p["auth_mode"] == "oauth2" for p in oauth)
    accounting = catalog_client.get("/?category=accounting").get_json()["providers"]
    assert "xero" in {p["key"] for p in accounting}
    assert all("accounting" in p["categories"] for p in accounting)
    found = catalog_client.get("/?q=stripe").get_json()["providers"]
    assert "stripe" in {p["key"] for p in found}
    za = catalog_client.get("/?region=za").get_json()["providers"]
    assert "takealot" in {p["key"] for p in za}
    assert catalog_client.get("/?q=zzzz-nothing").get_json()["providers"] == []


def test_one_provider_has_its_schemas(catalog_client: FlaskClient) -> None:
    response = catalog_client.get("/stripe")
    assert response.status_code == 200
    entry = response.get_json()
    assert entry["key"] == "stripe"
    assert entry["credentials_schema"]["properties"]["api_key"]["writeOnly"] is True
    assert "config_schema" in entry


def test_unknown_provider_is_404(catalog_client: FlaskClient) -> None:
    response = catalog_client.get("/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "UNKNOWN_PROVIDER"


def test_cloud_mode_without_a_keyring_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    reset_container(None)
    monkeypatch.setenv("TETHER_MODE", "cloud")
    monkeypatch.setenv("TETHER_AUTH", "firebase")
    monkeypatch.setenv("TETHER_FIREBASE_PROJECT", "proj-1")
    with pytest.raises(ConfigurationError, match="no keyring"):
        create_app("catalog", SOURCE)
    reset_container(None)
    monkeypatch.setenv("TETHER_AUTH", "dev")
    monkeypatch.setenv("TETHER_KEYRING", '{"primary": "k1", "keys": {"k1": "' + "A" * 43 + '="}}')
    with pytest.raises(ConfigurationError, match="only allowed with `tether dev`"):
        create_app("catalog", SOURCE)
    reset_container(None)

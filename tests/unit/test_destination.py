"""A connection's destination: the origins its credentials reach, from catalog and config."""

from __future__ import annotations

import pytest

from tether.catalog import load_catalog
from tether.catalog.destination import destination_of
from tether.http.origin import origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://API.Example.com/v1?x=1", "https://api.example.com:443"),
        ("http://example.com:80/", "http://example.com:80"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("ftp://example.com/", None),
        ("/relative/path", None),
        ("http://[::1/", None),
        ("https://example.com:99999/", None),
    ],
)
def test_origin_of(url, origin):
    assert origin_of(url) == origin


def _moved(provider_key: str, before: dict, after: dict) -> list[str]:
    provider = load_catalog().get(provider_key)
    return destination_of(provider, after).changed_parts(destination_of(provider, before))


REST = {"base_url": "https://api.example.com/v1", "auth_method": "bearer", "test_path": "/me"}


def test_rest_api_destination_is_the_base_url_origin():
    provider = load_catalog().get("rest_api")
    assert destination_of(provider, REST).origins == {"https://api.example.com:443"}
    assert _moved("rest_api", REST, {**REST, "base_url": "https://api.example.com/v2"}) == []
    assert _moved("rest_api", REST, {**REST, "test_path": "/health"}) == []
    assert _moved("rest_api", REST, {**REST, "base_url": "https://evil.example/v1"}) == [
        "https://api.example.com:443",
        "https://evil.example:443",
    ]
    # Same host, another scheme or port: another origin.
    assert _moved("rest_api", REST, {**REST, "base_url": "http://api.example.com/v1"})
    assert _moved("rest_api", REST, {**REST, "base_url": "https://api.example.com:444/v1"})


def test_templated_hosts_move_and_templated_paths_do_not():
    assert _moved("shopify", {"shop": "acme"}, {"shop": "evil"})
    assert _moved("zendesk", {"subdomain": "acme"}, {"subdomain": "evil"})
    assert _moved("quickbooks", {"realm_id": "1"}, {"realm_id": "2"}) == []


def test_custom_oauth2_token_revocation_api_and_test_urls_are_the_destination():
    base = {
        "authorization_url": "https://id.example.com/authorize",
        "token_url": "https://id.example.com/token",
        "client_id": "c",
        "api_base_url": "https://api.example.com",
    }
    provider = load_catalog().get("oauth2")
    assert destination_of(provider, base).origins == {
        "https://id.example.com:443",
        "https://api.example.com:443",
    }
    # Where the browser goes carries no secret; where tokens and secrets go does.
    assert _moved("oauth2", base, {**base, "authorization_url": "https://x.example/a"}) == []
    for field in ("token_url", "revocation_url", "api_base_url", "test_url"):
        assert _moved("oauth2", base, {**base, field: "https://evil.example/x"}), field


def test_a_database_is_located_by_its_destination_config():
    base = {"host": "db.example.com", "port": 5432, "database": "app", "sslmode": "verify-full"}
    assert _moved("postgresql", base, {**base, "database": "other"}) == []
    assert _moved("postgresql", base, {**base, "host": "evil.example"}) == ["host"]
    assert _moved("postgresql", base, {**base, "port": 6543}) == ["port"]
    assert _moved("postgresql", base, {**base, "sslmode": "require"}) == ["sslmode"]
    # A default counts as the value it stands for.
    assert _moved("postgresql", base, {k: v for k, v in base.items() if k != "sslmode"}) == []


def test_every_catalog_entry_has_a_computable_destination():
    for provider in load_catalog():
        destination_of(provider, {})  # never raises, whatever is missing

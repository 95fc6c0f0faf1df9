"""The provider catalog: every packaged entry, the loader, search, and URL templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from tether.catalog import (
    AUTH_MODES,
    Auth,
    Catalog,
    OAuth2Auth,
    Provider,
    join_url,
    load_catalog,
    parse_catalog,
    placeholders,
    render_template,
)
from tether.catalog.loader import parse_packaged
from tether.domain.errors import ConfigurationError, InvalidRequest, NotFound

REQUIRED_PROVIDERS = {
    "google_drive",
    "gmail",
    "google_calendar",
    "xero",
    "sage",
    "shopify",
    "square",
    "quickbooks",
    "woocommerce",
    "stripe",
    "hubspot",
    "slack",
    "amazon_selling_partner",
    "takealot",
    "rest_api",
    "graphql_api",
    "webhook",
    "oauth2",
    "postgresql",
    "github",
}
# Generic entries whose URLs the tenant types in (http allowed for local test servers).
# Generic connectors, and the local demo provider (loopback http by design).
GENERIC = {"rest_api", "graphql_api", "oauth2", "demo", "client_credentials", "jwt_bearer"}
SECRET_WORDS = ("secret", "password", "token", "key")
NOT_SECRET = {"key_id", "username"}

# Config that satisfies each entry's config_schema, to render every template.
SAMPLE_CONFIG: dict[str, dict[str, Any]] = {
    "quickbooks": {"realm_id": "9130347596"},
    "shopify": {"shop": "acme-store"},
    "woocommerce": {"store_url": "https://shop.example.com"},
    "bigcommerce": {"store_hash": "abc123"},
    "salesforce": {"instance_url": "https://acme.my.salesforce.com"},
    "zoho_crm": {
        "accounts_server": "https://accounts.zoho.eu",
        "api_domain": "https://www.zohoapis.eu",
    },
    "pipedrive": {"company_domain": "acme"},
    "mailchimp": {"dc": "us21"},
    "zendesk": {"subdomain": "acme"},
    "jira": {"cloud_id": "11223344-a1b2-3b33-c444-def123456789"},
    "docusign": {"base_uri": "https://na4.docusign.net"},
    "rest_api": {"base_url": "https://api.example.com/v1", "test_path": "/status"},
    "graphql_api": {"endpoint": "https://api.example.com/graphql"},
    "oauth2": {
        "authorization_url": "https://id.example.com/authorize",
        "token_url": "https://id.example.com/token",
        "revocation_url": "https://id.example.com/revoke",
        "client_id": "tether",
        "api_base_url": "https://api.example.com",
        "test_url": "https://api.example.com/me",
    },
    "postgresql": {"host": "db.example.com", "port": 5432, "database": "app"},
    "microsoft_graph_app": {"directory": "contoso.onmicrosoft.com"},
    "client_credentials": {
        "token_url": "https://id.example.com/token",
        "client_id": "tether",
        "api_base_url": "https://api.example.com",
        "test_url": "https://api.example.com/me",
    },
    "jwt_bearer": {
        "token_url": "https://id.example.com/token",
        "api_base_url": "https://api.example.com",
        "test_url": "https://api.example.com/me",
    },
    "tableau": {"server": "prod-useast-a.online.tableau.com", "site": "acme"},
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    # The full check, meta-schema included, that the runtime fast path relies on.
    return parse_packaged(check_json_schema=True)


def _sample_config(provider: Provider) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for name, prop in provider.config_schema["properties"].items():
        if "default" in prop:
            config[name] = prop["default"]
        elif "enum" in prop:
            config[name] = prop["enum"][0]
        elif prop.get("examples"):
            config[name] = prop["examples"][0]
    config.update(SAMPLE_CONFIG.get(provider.key, {}))
    return config


def _is_secret_name(name: str) -> bool:
    return name not in NOT_SECRET and any(word in name for word in SECRET_WORDS)


def _urls(provider: Provider) -> dict[str, str]:
    return {"docs_url": provider.docs_url, **provider.url_templates}


def test_catalog_is_large_and_has_the_required_providers(catalog: Catalog) -> None:
    assert len(catalog) >= 40
    assert set(catalog.keys()) >= REQUIRED_PROVIDERS
    assert len(set(catalog.keys())) == len(catalog)
    assert {p.auth_mode for p in catalog} == set(AUTH_MODES)


def test_every_entry_is_consistent(catalog: Catalog) -> None:
    for provider in catalog:
        key = provider.key
        assert key.replace("_", "").isalnum() and key == key.lower(), key
        credentials = provider.credentials_schema
        config = provider.config_schema
        for schema in (credentials, config):
            Draft202012Validator.check_schema(schema)
            for prop in schema["properties"].values():
                if "default" in prop:
                    Draft202012Validator(prop).validate(prop["default"])

        for name, prop in credentials["properties"].items():
            if _is_secret_name(name):
                assert prop.get("writeOnly") is True, f"{key}.{name} must be writeOnly"
        assert not [n for n, p in config["properties"].items() if p.get("writeOnly")], key

        for where, template in provider.url_templates.items():
            for name in placeholders(template):
                assert name in config["properties"], f"{key} {where} uses {{{name}}}"

        for where, url in _urls(provider).items():
            if url.startswith("{"):
                name = placeholders(url)[0]
                prop = config["properties"][name]
                https_only = prop.get("pattern", "").startswith("^https://") or all(
                    value.startswith("https://") for value in prop.get("enum", ["x"])
                )
                assert https_only or key in GENERIC, f"{key} {where} may not be https"
            elif where != "test.path" or "://" in url:
                assert url.startswith("https://"), f"{key} {where} is not https"

        sample = _sample_config(provider)
        Draft202012Validator(config).validate(sample)
        test_url = provider.render_test_url(sample)
        if provider.test is not None:
            assert test_url is not None, key
            assert test_url.startswith("https://") or key == "demo", key
            assert "{" not in test_url, key
            if provider.test.method == "POST" and provider.test.path == "":
                assert provider.test.body is not None, key

        if provider.auth_mode == "oauth2" and key != "oauth2":
            # Tether's configuration holds the OAuth client, never the tenant; the tenant's
            # only secret is the signing secret of a webhook it created itself (GitHub's).
            own_webhook_secret = provider.webhook.secret_field if provider.webhook else None
            tenant_fields = set(credentials["properties"]) - {own_webhook_secret}
            assert tenant_fields == set(), key
        if provider.webhook is not None and provider.webhook.secret_field:
            assert provider.webhook.secret_field in provider.secret_fields, key


def test_required_entries_match_the_design(catalog: Catalog) -> None:
    google = catalog.get("google_drive").auth
    assert isinstance(google, OAuth2Auth)
    assert google.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.issuer == "https://accounts.google.com"
    assert google.extra_authorize_params["access_type"] == "offline"

    xero = catalog.get("xero").auth
    assert isinstance(xero, OAuth2Auth)
    assert xero.token_url == "https://identity.xero.com/connect/token"
    assert xero.keep_alive_days == 60 and xero.refresh_token_rotates

    shopify = catalog.get("shopify")
    assert shopify.render_api_base_url({"shop": "acme"}) == (
        "https://acme.myshopify.com/admin/api/2025-01"
    )
    assert shopify.webhook is not None
    assert shopify.webhook.route_field == "header:X-Shopify-Shop-Domain"

    stripe = catalog.get("stripe")
    assert stripe.auth_mode == "api_key"
    assert stripe.webhook is not None and stripe.webhook.scheme == "stripe"
    key_pattern = stripe.credentials_schema["properties"]["api_key"]["pattern"]
    assert key_pattern == "^(sk|rk)_(test|live)_[A-Za-z0-9]+$"

    # SumUp's secret keys: sk_live_/sk_test_ now, sup_sk_ earlier; never the public key.
    sumup = Draft202012Validator(catalog.get("sumup").credentials_schema)
    for key in ("sk_live_a1B2c3", "sk_test_a1B2c3", "sup_sk_a1B2c3"):
        assert sumup.is_valid({"api_key": key}), key
    assert not sumup.is_valid({"api_key": "pk_live_a1B2c3"})

    assert catalog.get("takealot").regions == ["za"]
    assert catalog.get("rest_api").auth_mode == "none"
    assert catalog.get("webhook").webhook is not None
    assert catalog.get("postgresql").test is None
    assert catalog.get("postgresql").api_base_url is None
    assert set(catalog.get("rest_api").secret_fields) == {"token", "api_key", "password"}


def test_packaged_catalog_is_loaded_once() -> None:
    first = load_catalog()
    assert load_catalog() is first
    assert "xero" in first


def test_search_filters(catalog: Catalog) -> None:
    keys = lambda providers: {p.key for p in providers}  # noqa: E731

    assert "xero" in keys(catalog.search(q="XERO"))
    assert {"xero", "sage", "quickbooks"} <= keys(catalog.search(q="accounting"))
    assert keys(catalog.search(q="  ")) == set(catalog.keys())

    accounting = keys(catalog.search(category="accounting"))
    assert {"xero", "sage", "quickbooks"} <= accounting
    assert "stripe" not in accounting

    api_key = catalog.search(auth_mode="api_key")
    assert "stripe" in keys(api_key) and "xero" not in keys(api_key)
    assert all(p.auth_mode == "api_key" for p in api_key)

    south_africa = keys(catalog.search(region="za"))
    assert {"takealot", "paystack", "stripe"} <= south_africa  # stripe is global
    assert "sage" not in south_africa

    both = catalog.search(category="marketplace", region="za")
    assert {"takealot", "amazon_selling_partner"} == keys(both)
    assert catalog.search(q="no such thing anywhere") == []

    order = [p.key for p in catalog.search(category="accounting")]
    assert order == [p.key for p in catalog if p.key in set(order)]


@pytest.mark.parametrize(
    ("filters", "name"),
    [({"category": "nope"}, "category"), ({"auth_mode": "magic"}, "auth_mode")],
)
def test_search_rejects_unknown_filter_values(
    catalog: Catalog, filters: dict[str, str], name: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        catalog.search(**filters)
    assert info.value.code == "INVALID_FILTER"
    assert info.value.details["filter"] == name


def test_get_unknown_provider_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        catalog.get("no_such_provider")
    assert info.value.code == "UNKNOWN_PROVIDER"
    assert info.value.http_status == 404
    assert "no_such_provider" in info.value.message

    with pytest.raises(NotFound) as info:
        catalog.get("<script>alert(1)</script>")
    assert "<script>" not in info.value.message


def test_render_template_quotes_values() -> None:
    template = "https://{shop}.myshopify.com/admin/{path}"
    rendered = render_template(template, {"shop": "acme", "path": "a/b?c#d@e"})
    assert rendered == "https://acme.myshopify.com/admin/a%2Fb%3Fc%23d%40e"
    assert render_template("/companyinfo/{realm_id}", {"realm_id": 42}) == "/companyinfo/42"


def test_render_template_inserts_an_opening_placeholder_as_is() -> None:
    rendered = render_template("{base_url}/v3", {"base_url": "https://api.example.com/x"})
    assert rendered == "https://api.example.com/x/v3"


@pytest.mark.parametrize("config", [{}, {"shop": ""}, {"shop": None}])
def test_render_template_refuses_missing_values(config: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        render_template("https://{shop}.myshopify.com", config)
    assert info.value.code == "MISSING_CONFIG"
    assert info.value.details == {"field": "shop"}


@pytest.mark.parametrize("value", [True, ["a"], {"a": 1}, "has space", "line\nbreak"])
def test_render_template_refuses_odd_values(value: object) -> None:
    with pytest.raises(InvalidRequest) as info:
        render_template("https://{shop}.myshopify.com", {"shop": value})
    assert info.value.code == "INVALID_CONFIG"


def test_join_url() -> None:
    assert join_url("https://a.example/v1/", "/users") == "https://a.example/v1/users"
    assert join_url("https://a.example/v1", "users") == "https://a.example/v1/users"
    assert join_url("https://a.example/graphql", "") == "https://a.example/graphql"
    assert join_url("https://a.example/x", "https://b.example/y") == "https://b.example/y"
    with pytest.raises(InvalidRequest):
        join_url(None, "/users")


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": "demo",
        "display_name": "Demo",
        "description": "A demo API.",
        "categories": ["generic"],
        "regions": ["global"],
        "docs_url": "https://example.com/docs",
        "api_base_url": "https://api.example.com",
        "auth": {"mode": "bearer"},
        "credentials_schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "title": "Token", "description": "A token."}
            },
        },
    }
    entry.update(overrides)
    return entry


def test_a_minimal_entry_validates() -> None:
    provider = Provider.model_validate(_entry())
    assert provider.auth_mode == "bearer"
    assert provider.config_schema["properties"] == {}


def test_auth_union_rejects_unknown_modes_and_extra_fields() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(Auth)
    assert adapter.validate_python({"mode": "none"}).mode == "none"
    with pytest.raises(ValidationError):
        adapter.validate_python({"mode": "magic"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"mode": "bearer", "credential_field": "token", "extra": 1})
    with pytest.raises(ValidationError):
        Provider.model_validate(_entry(auth={"mode": "magic"}))
    with pytest.raises(ValidationError):
        Provider.model_validate(_entry(unexpected="field"))


def test_models_are_frozen() -> None:
    provider = Provider.model_validate(_entry())
    with pytest.raises(ValidationError):
        provider.display_name = "Changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"api_base_url": "https://{tenant}.example.com"}, "undefined config"),
        ({"api_base_url": "http://api.example.com"}, "https://"),
        ({"docs_url": "http://example.com"}, "docs_url"),
        ({"auth": {"mode": "basic"}}, "credentials field"),
        ({"credentials_schema": {"type": "objekt"}}, "JSON Schema"),
        (
            {
                "credentials_schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"token": {"type": "string"}},
                }
            },
            "title",
        ),
        ({"test": {"path": "/me", "description": "Me."}, "api_base_url": None}, "relative"),
        ({"test": {"path": "/me"}}, "description"),
        ({"webhook": {"scheme": "stripe", "secret_field": "nope"}}, "secret_field"),
        (
            {
                "auth": {
                    "mode": "oauth2",
                    "authorization_url": "https://id.example.com/authorize",
                    "token_url": "https://id.example.com/token",
                    "token_auth_method": "client_secret_post",
                    "default_token_lifetime_seconds": 3600,
                    "extra_authorize_params": {"state": "fixed"},
                }
            },
            "state",
        ),
    ],
)
def test_inconsistent_entries_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Provider.model_validate(_entry(**overrides))
    assert fragment in str(info.value)


_ORG_CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"org": {"type": "string", "title": "Organisation", "description": "Its id."}},
}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"config_headers": {"X-Org": "nope"}}, "config_headers names undefined config"),
        ({"config_headers": {"X Org": "org"}}, "valid HTTP header name"),
        ({"config_headers": {"X-Org": "org"}, "headers": {"x-org": "1"}}, "both set"),
    ],
)
def test_inconsistent_config_headers_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Provider.model_validate(_entry(config_schema=_ORG_CONFIG, **overrides))
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("config", "sent"),
    [
        ({"org": "o-1"}, "o-1"),
        ({"org": " o-1 "}, "o-1"),
        ({"org": 42}, "42"),
        ({}, None),
        ({"org": ""}, None),
        ({"org": "a\r\nX-Evil: 1"}, None),
        ({"org": True}, None),
        ({"org": {"id": 1}}, None),
    ],
)
def test_config_headers_send_a_set_config_value(config: dict[str, Any], sent: str | None) -> None:
    provider = Provider.model_validate(
        _entry(config_schema=_ORG_CONFIG, headers={"Accept": "x"}, config_headers={"X-Org": "org"})
    )
    assert provider.headers_for(config).get("X-Org") == sent
    assert provider.headers_for(config)["Accept"] == "x"


def test_a_leading_placeholder_needs_a_constrained_property() -> None:
    config = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"base": {"type": "string", "title": "Base", "description": "Base URL."}},
    }
    with pytest.raises(ValidationError, match="pattern or an enum"):
        Provider.model_validate(_entry(api_base_url="{base}/v1", config_schema=config))
    config["properties"]["base"]["pattern"] = "^https://\\S+$"
    provider = Provider.model_validate(_entry(api_base_url="{base}/v1", config_schema=config))
    assert provider.render_api_base_url({"base": "https://x.example"}) == "https://x.example/v1"


BROKEN_YAML = """\
version: 1
providers:
  fine_one:
    display_name: Fine
    description: Works.
    categories: [generic]
    regions: [global]
    docs_url: https://example.com
    auth: {mode: none}
  broken_one:
    display_name: Broken
    description: Has a bad auth mode.
    categories: [generic]
    regions: [global]
    docs_url: https://example.com
    auth: {mode: telepathy}
"""


def test_a_broken_file_names_the_provider(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(BROKEN_YAML, encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        load_catalog(path)
    assert info.value.code == "CATALOG_INVALID"
    assert "broken_one" in info.value.message
    assert info.value.details == {"provider": "broken_one"}


def test_a_good_file_loads_in_order(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(BROKEN_YAML.split("  broken_one:")[0], encoding="utf-8")
    loaded = load_catalog(path)
    assert loaded.keys() == ["fine_one"]
    assert [p.key for p in loaded] == ["fine_one"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("providers: [1, 2]", "'providers' mapping"),
        ("providers: {}\nextra: 1", "unknown top-level"),
        ("providers: {a: 1", "not valid YAML"),
        (
            "providers:\n  dup: {auth: {mode: none}}\n  dup: {auth: {mode: none}}",
            "duplicate key",
        ),
        ("providers:\n  Bad-Key: {auth: {mode: none}}", "Bad-Key"),
        ("providers:\n  named: {key: other, auth: {mode: none}}", "differs"),
    ],
)
def test_malformed_files_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_catalog(text)
    assert fragment in info.value.message


def test_yaml_merge_keys_may_be_overridden() -> None:
    text = """\
definitions:
  base: &base {display_name: Base, description: Shared., categories: [generic],
               regions: [global], docs_url: "https://example.com", auth: {mode: none}}
providers:
  merged: {<<: *base, display_name: Merged}
"""
    assert parse_catalog(text).get("merged").display_name == "Merged"


def test_a_deployment_can_set_config_defaults_that_fit_the_schema():
    catalog = load_catalog().with_config_defaults({"demo": {"base_url": "http://127.0.0.1:9005"}})
    demo = catalog.get("demo")
    assert demo.config_with_defaults({})["base_url"] == "http://127.0.0.1:9005"
    assert load_catalog().get("demo").config_with_defaults({})["base_url"].endswith(":8085")
    assert len(catalog) == len(load_catalog())
    for bad in (
        {"nope": {"base_url": "http://127.0.0.1:1"}},  # unknown provider
        {"demo": {"no_such_field": "x"}},  # unknown property
        {"demo": {"base_url": "http://evil.example"}},  # outside the property's pattern
    ):
        with pytest.raises(ConfigurationError):
            load_catalog().with_config_defaults(bad)


def _oauth_entry(issuer: str) -> dict[str, Any]:
    auth = {
        "mode": "oauth2",
        "authorization_url": "https://idp.example.com/authorize",
        "token_url": "https://idp.example.com/token",
        "token_auth_method": "client_secret_basic",
        "default_token_lifetime_seconds": 3600,
        "issuer": issuer,
    }
    config = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "base_url": {
                "type": "string",
                "title": "Base",
                "description": "Where it answers.",
                "pattern": "^http://127\\.0\\.0\\.1(:[0-9]+)?$",
            }
        },
    }
    empty = {"type": "object", "additionalProperties": False, "properties": {}}
    return _entry(auth=auth, credentials_schema=empty, config_schema=config)


@pytest.mark.parametrize(
    "issuer",
    [
        "https://idp.example.com",
        "http://127.0.0.1:8085",
        "http://localhost:8085/issuer",
        "http://[::1]:8085",
        "{base_url}",
    ],
)
def test_an_issuer_is_https_or_loopback_http(issuer: str) -> None:
    auth = Provider.model_validate(_oauth_entry(issuer)).auth
    assert isinstance(auth, OAuth2Auth) and auth.issuer == issuer


@pytest.mark.parametrize(
    "issuer", ["http://idp.example.com", "http://127.0.0.1.example.com", "ftp://idp", "{nope}"]
)
def test_other_issuers_are_refused(issuer: str) -> None:
    with pytest.raises(ValidationError):
        Provider.model_validate(_oauth_entry(issuer))


def test_the_demo_entry_declares_its_issuer_over_its_address(catalog: Catalog) -> None:
    demo = catalog.get("demo")
    assert isinstance(demo.auth, OAuth2Auth) and demo.auth.issuer == "{base_url}"


def test_a_deployment_may_point_a_provider_at_a_stand_in() -> None:
    from tether.catalog import load_catalog
    from tether.domain.errors import ConfigurationError

    catalog = load_catalog().with_api_base_urls({"stripe": "http://127.0.0.1:9/v1"})
    assert catalog.get("stripe").api_base_url == "http://127.0.0.1:9/v1"
    assert catalog.get("xero").api_base_url == load_catalog().get("xero").api_base_url
    with pytest.raises(ConfigurationError):
        load_catalog().with_api_base_urls({"no_such_provider": "http://127.0.0.1:9"})


def test_a_stand_in_also_answers_a_test_addressed_to_the_api_host_by_full_url() -> None:
    """Xero tests with ``https://api.xero.com/connections`` beside its ``/api.xro/2.0`` base:
    on a stand-in, that request goes to the stand-in's host, path kept; a test relative to
    the base (Stripe's) follows the base as before."""
    from tether.catalog import load_catalog

    packaged = load_catalog()
    assert (packaged.get("xero").test or pytest.fail("xero has a test")).path == (
        "https://api.xero.com/connections"
    )
    catalog = packaged.with_api_base_urls(
        {"xero": "http://127.0.0.1:9/api.xro/2.0", "stripe": "http://127.0.0.1:9/v1"}
    )
    assert catalog.get("xero").render_test_url({}) == "http://127.0.0.1:9/connections"
    stripe_test = packaged.get("stripe").test or pytest.fail("stripe has a test")
    assert catalog.get("stripe").render_test_url({}) == "http://127.0.0.1:9/v1" + stripe_test.path

"""The catalog against two other open provider registries (grant and Nango's providers.yaml,
from npm, read in tests/registries/node_modules): for every provider both know, the OAuth
endpoints, the API base URL and the auth mode agree, or the disagreement is a documented
exception with its reason (tests/support/registry_tables.py)."""

from __future__ import annotations

import json

import pytest

from tests.support.provider_registries import (
    GRANT,
    MODULES,
    NANGO,
    REGISTRIES,
    RegistryEntry,
    base_url_agrees,
    normalise_url,
    registry,
    url_agrees,
)
from tests.support.registry_comparison import Finding, compare, registry_key
from tests.support.registry_tables import ALIASES, EXCEPTIONS
from tether.catalog import Catalog
from tether.catalog.loader import parse_packaged

FIELDS = ("authorization_url", "token_url", "api_base_url", "auth_mode")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged(check_json_schema=False)


@pytest.fixture(scope="module")
def findings(catalog: Catalog) -> list[Finding]:
    return compare(catalog)


def test_every_disagreement_is_a_documented_exception(findings: list[Finding]) -> None:
    unexplained = [str(f) for f in findings if not f.agrees and f.key not in EXCEPTIONS]
    assert unexplained == []


def test_every_exception_is_still_a_disagreement(findings: list[Finding]) -> None:
    disagreements = {f.key for f in findings if not f.agrees}
    stale = sorted(set(EXCEPTIONS) - disagreements)
    assert stale == []
    assert all(len(reason) > 20 for reason in EXCEPTIONS.values())


def test_the_comparison_covers_the_providers_both_know(findings: list[Finding]) -> None:
    compared = {name: {f.provider for f in findings if f.registry == name} for name in REGISTRIES}
    assert len(compared[NANGO]) >= 120 and len(compared[GRANT]) >= 30
    fields = {(f.registry, f.field) for f in findings}
    assert {(NANGO, field) for field in FIELDS} <= fields
    assert {(GRANT, "authorization_url"), (GRANT, "token_url")} <= fields
    agreeing = [f for f in findings if f.agrees and f.field == "token_url"]
    assert len(agreeing) >= 80


def test_a_wrong_endpoint_in_the_catalog_is_caught(catalog: Catalog) -> None:
    github = catalog.get("github")
    wrong = github.auth.model_copy(update={"token_url": "https://github.com/login/oauth/token"})
    changed = Catalog([github.model_copy(update={"auth": wrong})])
    broken = {(f.registry, f.field) for f in compare(changed) if not f.agrees}
    assert broken == {(GRANT, "token_url"), (NANGO, "token_url")}


def test_every_alias_names_an_entry_of_its_registry(catalog: Catalog) -> None:
    for provider, names in ALIASES.items():
        assert provider in catalog, provider
        for name, key in names.items():
            assert key is None or key in registry(name), (provider, name, key)
    assert registry_key("gmail", NANGO) == "google-mail"
    assert registry_key("zoho_crm", NANGO) == "zoho-crm"
    assert registry_key("constant_contact", GRANT) == "constantcontact"
    assert registry_key("amazon_selling_partner", GRANT) is None


def test_the_registries_read_are_the_pinned_versions() -> None:
    lock = json.loads((MODULES.parent / "package-lock.json").read_text("utf-8"))
    for package in ("grant", "@nangohq/providers"):
        installed = json.loads((MODULES / package / "package.json").read_text("utf-8"))
        assert installed["version"] == lock["packages"][f"node_modules/{package}"]["version"]
    assert len(registry(GRANT)) > 200 and len(registry(NANGO)) > 900


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("https://api.waveapps.com/oauth2/token/", "https://api.waveapps.com/oauth2/token"),
        ("https://{shop}.myshopify.com/admin", "https://[subdomain].myshopify.com/admin"),
        (
            "https://{account_id}.app.example.com/a",
            "https://${connectionConfig.accountId}.app.example.com/a",
        ),
        ("HTTPS://Login.Example.com/authorize", "https://login.example.com/authorize"),
    ],
)
def test_urls_agree_when_only_their_spelling_differs(ours: str, theirs: str) -> None:
    assert normalise_url(ours) == normalise_url(theirs)
    assert url_agrees(ours, ("https://other.example/x", theirs))


def test_urls_that_name_another_endpoint_disagree() -> None:
    assert not url_agrees(
        "https://slack.com/oauth/v2/authorize", ("https://slack.com/oauth/authorize",)
    )
    assert not url_agrees("https://a.example/token?x=1", ("https://a.example/token",))


def test_a_base_url_agrees_with_a_prefix_of_itself_on_the_same_host() -> None:
    assert base_url_agrees("https://api.zoom.us/v2", ("https://api.zoom.us",))
    assert base_url_agrees("https://api.example.com", ("https://api.example.com/v1",))
    assert not base_url_agrees("https://api.example.com/v2", ("https://api.example.com/v1",))
    assert not base_url_agrees("https://api.example.com/v2", ("https://api.example.co",))
    assert not base_url_agrees("https://api.example.com/v22", ("https://api.example.com/v2",))


def test_nango_aliases_and_enum_templates_are_resolved() -> None:
    drive = registry(NANGO)["google-drive"]  # alias: google, with its own fields on top
    assert drive.authorization_urls == ("https://accounts.google.com/o/oauth2/v2/auth",)
    mailgun = registry(NANGO)["mailgun"]  # region: enum [api, api.eu]
    assert {"https://api.mailgun.net", "https://api.eu.mailgun.net"} <= set(mailgun.api_base_urls)
    zoho = registry(NANGO)["zoho-crm"]  # a || b: both alternatives count
    assert "https://accounts.zoho.com/oauth/v2/auth" in zoho.authorization_urls
    assert isinstance(registry(GRANT)["xero"], RegistryEntry)
    assert registry(GRANT)["xero"].auth_mode == "oauth1"


def test_client_authentication_and_scope_separator_are_compared(
    catalog: Catalog, findings: list[Finding]
) -> None:
    for field in ("token_auth_method", "scope_separator"):
        mine = [f for f in findings if f.registry == NANGO and f.field == field]
        assert len(mine) >= 50, field
        assert sum(f.agrees for f in mine) >= 40, field
    github = catalog.get("github")
    wrong = github.auth.model_copy(
        update={"token_auth_method": "client_secret_basic", "scope_separator": ","}
    )
    changed = Catalog([github.model_copy(update={"auth": wrong})])
    broken = {(f.registry, f.field) for f in compare(changed) if not f.agrees}
    assert broken == {(NANGO, "token_auth_method"), (NANGO, "scope_separator")}

"""The catalog still states every fact recorded as confirmed by a vendor's own documentation
(tests/support/vendor_confirmations.py), for the providers neither open registry knows."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.vendor_confirmations import CONFIRMED
from tests.support.vendor_readings import read
from tether.catalog import Catalog
from tether.catalog.loader import parse_packaged

FACTS = [
    (provider, field, value)
    for provider, fields in CONFIRMED.items()
    for field, (value, _) in fields.items()
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_packaged(check_json_schema=False)


def test_every_recorded_provider_is_in_the_catalog(catalog: Catalog) -> None:
    assert sorted(set(CONFIRMED) - {provider.key for provider in catalog}) == []


@pytest.mark.parametrize(("provider", "field", "value"), FACTS, ids=lambda v: str(v))
def test_the_catalog_states_each_confirmed_fact(
    catalog: Catalog, provider: str, field: str, value: str
) -> None:
    assert read(catalog.get(provider), field) == value


def test_every_fact_names_an_https_source() -> None:
    for fields in CONFIRMED.values():
        for _, source in fields.values():
            parts = urlsplit(source)
            assert parts.scheme == "https" and parts.netloc, source


def test_a_catalog_edit_that_contradicts_a_confirmed_fact_is_caught(catalog: Catalog) -> None:
    breathe = catalog.get("breathe")
    renamed = breathe.auth.model_copy(update={"name": "X-Api-Token"})
    edited = breathe.model_copy(
        update={"auth": renamed, "api_base_url": "https://api.breathehr.com"}
    )
    value, _ = CONFIRMED["breathe"]["credential"]
    assert read(edited, "credential") != value
    assert read(edited, "api_base_url") != CONFIRMED["breathe"]["api_base_url"][0]
    assert read(breathe, "credential") == value


@pytest.mark.parametrize(
    ("key", "field", "reading"),
    [
        ("breathe", "credential", "header X-API-KEY: {api_key}"),
        ("statuspage", "credential", "header Authorization: OAuth {api_key}"),
        ("xendit", "credential", "basic {secret_key}:"),
        ("cloudinary", "credential", "basic {api_key}:{api_secret}"),
        ("zettle", "credential", "header Authorization: Bearer {access_token}"),
        ("sparkpost", "hosts:api_host", "api.sparkpost.com api.eu.sparkpost.com"),
        ("lemon_squeezy", "header:Accept", "application/vnd.api+json"),
        ("flutterwave", "key_pattern", "^FLWSECK(_TEST)?-[A-Za-z0-9-]+$"),
        ("zettle", "scope_separator", "' '"),
    ],
)
def test_each_reading_spells_the_entry_as_documented(
    catalog: Catalog, key: str, field: str, reading: str
) -> None:
    assert read(catalog.get(key), field) == reading

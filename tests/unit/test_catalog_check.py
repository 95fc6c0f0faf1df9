"""``tether catalog check`` and the packaged catalog's files: every rule fails on an entry
that breaks it, the packaged files pass, and the deferred load (one entry parsed on first use)
gives exactly what parsing every file in full gives."""

from __future__ import annotations

from collections import Counter

import pytest

from tether.catalog import Catalog, load_catalog
from tether.catalog.check import check_sources
from tether.catalog.loader import parse_packaged, parse_sources
from tether.catalog.sources import (
    CatalogSource,
    catalog_order,
    entry_spans,
    listed_first,
    packaged_index,
    packaged_sources,
)
from tether.cli import main
from tether.domain.errors import ConfigurationError

# The domains the catalog covers first, and at least how many entries each holds.
DOMAINS = {
    "accounting": 15,
    "ecommerce": 15,
    "pos": 6,
    "crm": 15,
    "storage": 6,
    "calendar": 5,
    "email": 10,
    "payments": 12,
    "support": 10,
    "hr": 10,
}

GOOD = """\
  acme:
    # source: https://docs.acme.example/api
    display_name: Acme
    description: Acme's API.
    categories: [crm]
    regions: [global]
    docs_url: https://docs.acme.example/api
    api_base_url: https://{subdomain}.acme.example/api
    auth: {mode: api_key, location: header, name: X-Api-Key}
    credentials_schema:
      type: object
      additionalProperties: false
      required: [api_key]
      properties:
        api_key: {type: string, title: API key, description: The key., writeOnly: true}
    config_schema:
      type: object
      additionalProperties: false
      required: [subdomain]
      properties:
        subdomain:
          type: string
          title: Subdomain
          description: The account's subdomain.
          pattern: '^[a-z0-9-]+$'
    test:
      path: /me
      description: Reads the key's account.
"""


def source(entries: str, name: str = "providers/crm.yaml", head: str = "") -> CatalogSource:
    return CatalogSource(name, f"version: 1\n{head}providers:\n{entries}")


def rules(*sources: CatalogSource) -> list[tuple[str | None, str]]:
    return [(p.provider, p.rule) for p in check_sources(sources).problems]


def test_a_good_entry_passes():
    result = check_sources([source(GOOD)])
    assert result.problems == []
    assert [p.key for p in result.providers] == ["acme"]


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        ("categories: [crm]", "categories: [crm, cooking]", "schema"),
        ("regions: [global]", "regions: [mars]", "schema"),
        ("docs_url: https://docs.acme.example/api", "docs_url: http://docs.acme.example", "schema"),
        ("    # source: https://docs.acme.example/api\n", "", "sources"),
        ("    # source: https://docs.acme.example/api\n", "    # source: see docs\n", "sources"),
        (", writeOnly: true}", "}", "write_only"),
        ("          pattern: '^[a-z0-9-]+$'\n", "", "https"),
        ("    test:\n      path: /me\n      description: Reads the key's account.\n", "", "probe"),
        ("title: Subdomain", "title: Subdomain\n          default: Not A Host", "defaults"),
        ("path: /me", "path: /{region}/me", "schema"),
    ],
)
def test_each_rule_fails_an_entry_that_breaks_it(old, new, rule):
    assert old in GOOD
    assert rules(source(GOOD.replace(old, new))) == [("acme", rule)]


def test_writeonly_follows_the_secret_word_in_a_field_name():
    extra = "        webhook_secret: {type: string, title: Secret, description: Signs.}\n"
    broken = GOOD.replace("    config_schema:", extra + "    config_schema:", 1)
    assert rules(source(broken)) == [("acme", "write_only")]


def test_an_oauth2_entry_takes_no_client_credentials():
    oauth = GOOD.replace(
        "auth: {mode: api_key, location: header, name: X-Api-Key}",
        "auth: {mode: oauth2, authorization_url: https://acme.example/authorize, "
        "token_url: https://acme.example/token, token_auth_method: client_secret_post, "
        "default_token_lifetime_seconds: 3600}",
    )
    assert rules(source(oauth)) == [("acme", "oauth")]


def test_a_key_in_two_files_is_refused():
    first, second = source(GOOD, "providers/crm.yaml"), source(GOOD, "providers/hr.yaml")
    assert rules(first, second) == [("acme", "unique")]
    with pytest.raises(ConfigurationError, match=r"in providers/crm\.yaml and in providers/hr"):
        parse_sources([first, second])


@pytest.mark.parametrize("name", ["providers/crm.yaml", "providers.yaml", "acme.yaml"])
def test_sources_are_required_in_every_file(name):
    unsourced = GOOD.replace("    # source: https://docs.acme.example/api\n", "")
    assert rules(source(unsourced, name=name)) == [("acme", "sources")]
    assert rules(source(GOOD, name=name)) == []


def test_every_packaged_entry_names_its_sources():
    lines = {span.key: span.lines for s in packaged_sources() for span in entry_spans(s)}
    assert len(lines) == len(parse_packaged())
    unsourced = [key for key, text in lines.items() if "# source: https://" not in text]
    assert unsourced == []


def index(*lines: str) -> CatalogSource:
    return CatalogSource("providers.yaml", "version: 1\n\nlisted_first:\n" + "".join(lines))


def order_problems(idx: CatalogSource) -> list[tuple[str | None, str]]:
    other = GOOD.replace("acme:", "beta:")
    result = check_sources([source(GOOD + "\n" + other)], index=idx)
    return [(p.provider, p.rule) for p in result.problems]


def test_the_order_file_names_entries_once():
    assert order_problems(index("  - beta\n", "  - acme\n")) == []
    assert order_problems(index("  - beta\n", "  - gamma\n")) == [("gamma", "order")]
    assert order_problems(index("  - beta\n", "  - beta\n")) == [("beta", "order")]


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\nlisted_first: [beta, acme]\n",  # a flow list: the line scan reads none
        "version: 1\nlisted_first:\n  - beta\n- acme\n",
        "version: 1\nlisted_first:\n  - beta\nextra: 1\n",
        "version: 1\n",
    ],
)
def test_an_order_file_the_loader_would_read_otherwise_is_refused(text):
    assert "order" in {rule for _, rule in order_problems(CatalogSource("providers.yaml", text))}


def test_the_catalog_lists_the_order_files_keys_first():
    first = listed_first(packaged_index())
    keys = parse_packaged().keys()
    assert len(first) == 65 and keys[: len(first)] == first
    rest = [span.key for s in packaged_sources() for span in entry_spans(s)]
    assert keys[len(first) :] == [key for key in rest if key not in set(first)]
    assert load_catalog().keys() == keys
    assert catalog_order(["a", "b", "c", "d"], ["c", "x", "a"]) == ["c", "a", "b", "d"]


def test_an_entry_that_cannot_be_parsed_alone_is_refused():
    # An anchor defined in one entry and used by the next parses in full, not alone.
    shared = GOOD.replace("    regions: [global]", "    regions: &everywhere [global]")
    second = GOOD.replace("acme:", "acme_two:").replace("[global]", "*everywhere")
    assert rules(source(shared + second)) == [("acme_two", "alone")]
    # An entry written on one line is not found by its key line.
    flow = "  tiny: {display_name: T}\n"
    assert (None, "alone") in rules(source(GOOD + flow))


def test_definitions_anchors_resolve_when_an_entry_is_parsed_alone():
    head = "definitions:\n  everywhere: &everywhere [global]\n"
    text = GOOD.replace("regions: [global]", "regions: *everywhere")
    assert rules(source(text, head=head)) == []
    catalog = deferred(source(text, head=head))
    assert catalog.get("acme").regions == ["global"]


def deferred(*sources: CatalogSource) -> Catalog:
    from functools import partial

    from tether.catalog.loader import _parse_span

    spans = [span for s in sources for span in entry_spans(s)]
    return Catalog.deferred({span.key: partial(_parse_span, span) for span in spans})


def test_a_deferred_entry_is_parsed_on_first_use_only():
    broken = GOOD.replace("acme:", "broken:").replace("categories: [crm]", "categories: [x]")
    catalog = deferred(source(GOOD + broken))
    assert catalog.keys() == ["acme", "broken"] and "broken" in catalog and len(catalog) == 2
    assert catalog.get("acme").display_name == "Acme"
    assert catalog.get("acme") is catalog.get("acme")
    with pytest.raises(ConfigurationError) as caught:
        catalog.get("broken")
    assert caught.value.code == "CATALOG_INVALID"
    with pytest.raises(ConfigurationError):
        catalog.search(q="acme")  # a listing validates every entry


def test_the_packaged_catalog_passes_the_check_command(capsys):
    assert main(["catalog", "check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("catalog ok: ") and f"{len(packaged_sources())} files" in out


def test_the_check_command_fails_on_a_broken_file(capsys, tmp_path):
    folder = tmp_path / "providers"
    folder.mkdir()
    (folder / "crm.yaml").write_text(source(GOOD.replace(", writeOnly: true}", "}")).text)
    assert main(["catalog", "check", str(folder / "crm.yaml")]) == 1
    err = capsys.readouterr().err
    assert "providers/crm.yaml: acme: [write_only]" in err
    assert "catalog check failed: 1 problems" in err


def test_the_check_command_builds_each_webhook_scheme_with_its_options(capsys, tmp_path):
    webhook = (
        "    webhook:\n      scheme: hmac\n      options: {header: X-Sig, colour: blue}\n"
        "      secret_field: webhook_secret\n"
    )
    secret = "        webhook_secret: {type: string, title: S, description: S., writeOnly: true}\n"
    text = GOOD.replace("    config_schema:", secret + "    config_schema:", 1) + webhook
    path = tmp_path / "acme.yaml"
    path.write_text(source(text).text)
    assert main(["catalog", "check", str(path)]) == 1
    assert "acme: [webhook]" in capsys.readouterr().err
    path.write_text(source(text.replace(", colour: blue", "")).text)
    assert main(["catalog", "check", str(path)]) == 0


def test_the_deferred_packaged_catalog_equals_the_full_parse():
    full = parse_packaged()
    packaged = load_catalog()
    assert packaged.keys() == full.keys()
    assert list(packaged) == list(full)  # a listing: each file parsed once
    for provider in full:
        assert packaged.get(provider.key) == provider, provider.key


def test_the_catalog_is_large_and_covers_the_seeds_domains():
    catalog = parse_packaged()
    assert len(catalog) >= 150
    counts = Counter(category for provider in catalog for category in provider.categories)
    short = {d: counts[d] for d, least in DOMAINS.items() if counts[d] < least}
    assert short == {}


def test_every_entry_is_in_a_domain_file_read_in_name_order():
    names = [s.name for s in packaged_sources()]
    assert names == sorted(names) and all(n.startswith("providers/") for n in names)
    assert "providers:" not in packaged_index().text

"""``tether catalog check``: every rule a catalog entry must meet, checked offline.

Each entry is checked on its own, so one broken entry is reported by key without hiding the
others. Beyond the schema (:mod:`tether.catalog.schema`, with the JSON Schema 2020-12
meta-check and the syncs' models), the rules are:

``unique``      a key is in one file only.
``alone``       the entry parsed alone (the deferred load, :mod:`tether.catalog.sources`)
                equals the entry parsed with its whole file.
``https``       docs, API, OAuth and test URLs are https; a URL opening with a placeholder
                names a config property limited to https values (generic entries, whose
                URLs the tenant types, excepted); a placeholder in a host is limited by a
                pattern or an enum, so a tenant cannot send credentials to another host.
``probe``       an entry with an API has a test request.
``sources``     the entry names the vendor page of its facts in a ``# source: https://...``
                comment (every entry, in every file).
``order``       each key of ``providers.yaml``'s ``listed_first`` is an entry, named once,
                and the list read by lines (the loader's way) is the list YAML parses.
``write_only``  credentials fields that carry a secret (the auth's credential field, the
                webhook secret, a name with secret, password, token or key) are ``writeOnly``.
``defaults``    each config and credentials default is valid for its property.
``oauth``       an OAuth2 entry takes its client from Tether's configuration: no
                credentials fields but its own webhook's signing secret (the generic
                ``oauth2`` entry excepted).

The sync hooks are checked by the command (``tether.sync`` owns their registry).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tether.catalog.loader import _document, _parse_span, _provider
from tether.catalog.schema import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    JwtBearerAuth,
    Provider,
    TwoStepAuth,
)
from tether.catalog.sources import (
    CatalogSource,
    EntrySpan,
    entry_spans,
    listed_first,
    packaged_index,
    packaged_sources,
)
from tether.catalog.templates import PLACEHOLDER, placeholders
from tether.domain.errors import ConfigurationError

__all__ = ["CheckResult", "Problem", "check_packaged", "check_sources"]

_SOURCE_COMMENT = re.compile(r"^\s*#\s*source:\s*https://\S+", re.MULTILINE | re.IGNORECASE)
_SECRET_WORDS = ("secret", "password", "token", "key")
_NOT_SECRET = frozenset({"key_id", "username", "client_id", "account_key"})


@dataclass(frozen=True, slots=True)
class Problem:
    source: str
    provider: str | None
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.provider}" if self.provider else self.source
        return f"{where}: [{self.rule}] {self.message}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    providers: list[Provider]
    problems: list[Problem]
    files: int


def check_packaged() -> CheckResult:
    """Check the packaged domain files and the packaged order (``providers.yaml``)."""
    return check_sources(packaged_sources(), index=packaged_index())


def check_sources(
    sources: Iterable[CatalogSource], *, index: CatalogSource | None = None
) -> CheckResult:
    """Check every entry of ``sources`` and, when given, the order file ``index``."""
    problems: list[Problem] = []
    providers: list[Provider] = []
    seen: dict[str, str] = {}
    files = 0
    for source in sources:
        files += 1
        try:
            document = _document(source.text, source.name)
            spans = {span.key: span for span in entry_spans(source)}
        except ConfigurationError as exc:
            problems.append(Problem(source.name, None, "yaml", exc.message))
            continue
        entries: dict[Any, Any] = document["providers"]
        if list(spans) != [str(key) for key in entries]:
            problems.append(
                Problem(
                    source.name,
                    None,
                    "alone",
                    "the entries' key lines (two spaces, the key, a colon) do not match the "
                    "file's providers",
                )
            )
        for key, entry in entries.items():
            name = str(key)
            if name in seen:
                problems.append(Problem(source.name, name, "unique", f"also in {seen[name]}"))
            seen.setdefault(name, source.name)
            provider, rules = _check_entry(source, key, entry, spans.get(name))
            problems.extend(Problem(source.name, name, rule, text) for rule, text in rules)
            if provider is not None:
                providers.append(provider)
    if index is not None:
        problems.extend(_order_problems(index, seen))
    return CheckResult(providers=providers, problems=problems, files=files)


def _order_problems(index: CatalogSource, entries: dict[str, str]) -> Iterable[Problem]:
    import yaml

    def problem(message: str, provider: str | None = None) -> Problem:
        return Problem(index.name, provider, "order", message)

    try:
        keys = listed_first(index)
        document = yaml.safe_load(index.text)
    except (ConfigurationError, yaml.YAMLError) as exc:
        yield problem(str(exc))
        return
    if document != {"version": 1, "listed_first": keys}:
        yield problem("it must hold version: 1 and listed_first, a list of '  - key' lines only")
    for key, count in Counter(keys).items():
        if count > 1:
            yield problem(f"listed {count} times", key)
        if key not in entries:
            yield problem("listed but no domain file has this entry", key)


def _check_entry(
    source: CatalogSource, key: Any, entry: Any, span: EntrySpan | None
) -> tuple[Provider | None, list[tuple[str, str]]]:
    """The entry validated in full, and its problems as (rule, message) pairs."""
    try:
        provider = _provider(key, entry, source.name, check_json_schema=True)
    except ConfigurationError as exc:
        return None, [("schema", exc.message)]
    found = list(_entry_problems(provider))
    if span is None:
        return provider, found
    try:
        alone = _parse_span(span, check_json_schema=True)
    except ConfigurationError as exc:
        found.append(("alone", f"parsed alone it fails: {exc.message}"))
    else:
        if alone != provider:
            found.append(("alone", "parsed alone it differs from its file's entry"))
    if not _SOURCE_COMMENT.search(span.lines):
        found.append(("sources", "no '# source: https://...' comment names its vendor docs"))
    return provider, found


def _entry_problems(provider: Provider) -> Iterable[tuple[str, str]]:
    generic = "generic" in provider.categories
    config: dict[str, Any] = provider.config_schema.get("properties", {})
    credentials: dict[str, Any] = provider.credentials_schema.get("properties", {})
    urls = {"docs_url": provider.docs_url, **provider.url_templates}
    for where, url in urls.items():
        leading = PLACEHOLDER.match(url)
        if leading is not None:
            prop = config.get(leading.group(1), {})
            if not generic and not _https_only(prop):
                yield "https", f"{where} opens with {{{leading.group(1)}}}, not limited to https"
        elif "://" in url or where != "test.path":
            if not url.startswith("https://"):
                yield "https", f"{where} is not an https URL"
            for name in _host_placeholders(url):
                if not {"pattern", "enum"} & config.get(name, {}).keys():
                    yield "https", f"{where} puts {{{name}}} in the host without a pattern or enum"
    if provider.api_base_url is not None and provider.test is None:
        yield "probe", "it has an API but no test request"
    secret_fields = set(provider.secret_fields)
    must_hide = {name for name in credentials if _is_secret_name(name)}
    must_hide.update(_auth_secret_fields(provider))
    if provider.webhook is not None and provider.webhook.secret_field:
        must_hide.add(provider.webhook.secret_field)
    for name in sorted(must_hide - secret_fields):
        yield "write_only", f"credentials field '{name}' holds a secret but is not writeOnly"
    for label, props in (("config_schema", config), ("credentials_schema", credentials)):
        for name, prop in props.items():
            if isinstance(prop, dict) and "default" in prop and not _valid(prop, prop["default"]):
                yield "defaults", f"{label}.{name}'s default does not fit its schema"
    own_webhook_secret = provider.webhook.secret_field if provider.webhook else None
    if provider.auth_mode == "oauth2" and not generic and set(credentials) - {own_webhook_secret}:
        yield "oauth", "OAuth2 clients come from Tether's configuration, not credentials"


def _https_only(prop: dict[str, Any]) -> bool:
    pattern = prop.get("pattern", "")
    enum = prop.get("enum")
    if isinstance(pattern, str) and pattern.startswith("^https://"):
        return True
    return (
        isinstance(enum, list)
        and bool(enum)
        and all(isinstance(value, str) and value.startswith("https://") for value in enum)
    )


def _host_placeholders(url: str) -> list[str]:
    """Placeholders in the authority of an absolute URL template."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return placeholders(authority)


def _is_secret_name(name: str) -> bool:
    return name not in _NOT_SECRET and any(word in name for word in _SECRET_WORDS)


def _auth_secret_fields(provider: Provider) -> list[str]:
    auth = provider.auth
    if isinstance(auth, ApiKeyAuth | BearerAuth):
        return [auth.credential_field]
    if isinstance(auth, BasicAuth):
        return [auth.password_field or auth.username_field]
    if isinstance(auth, ClientCredentialsAuth):
        return ["client_secret"]
    if isinstance(auth, JwtBearerAuth):
        return [auth.key_field]
    if isinstance(auth, TwoStepAuth) and auth.token_request.basic is not None:
        return [auth.token_request.basic[1]]
    return []


def _valid(schema: dict[str, Any], value: Any) -> bool:
    from tether.catalog.schema_check import ecma_validator_class

    return bool(ecma_validator_class()(schema).is_valid(value))

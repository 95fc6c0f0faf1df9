"""The catalog set beside two other open provider registries (:mod:`provider_registries`).

For every catalog provider a registry knows (its key there is ours, with ``-`` for ``_`` in
Nango and no ``_`` in grant, unless :data:`tests.support.registry_tables.ALIASES` says
otherwise), each fact both have is compared:

``authorization_url``, ``token_url``  the OAuth endpoints (entries with an authorization
                                      flow, or a token endpoint of their own);
``api_base_url``                      Nango's ``proxy.base_url``: the same host, one path a
                                      prefix of the other;
``auth_mode``                         Nango's ``auth_mode`` (or grant's OAuth version) as the
                                      family of ours (:data:`MODES`);
``token_auth_method``                 how the client authenticates at the token endpoint
                                      (HTTP Basic or the form body), Nango's
                                      ``token_request_auth_method``;
``scope_separator``                   what joins scopes in the authorization request.

The last two are compared for authorization-code entries (``oauth2``) that Nango also holds as
``OAUTH2``, when Nango names a secret-based client authentication.

A template of ours whose placeholders all name config properties with an ``enum`` (an
environment or region host) is compared as each URL it can become, and as itself.

A disagreement must be one of :data:`tests.support.registry_tables.EXCEPTIONS`, each with its
reason; ``python -m tests.support.registry_comparison`` prints the counts.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.support.provider_registries import (
    GRANT,
    NANGO,
    REGISTRIES,
    RegistryEntry,
    base_url_agrees,
    registry,
    url_agrees,
)
from tests.support.registry_tables import ALIASES, EXCEPTIONS
from tether.catalog import Catalog, Provider
from tether.catalog.templates import placeholders

__all__ = ["FIELDS", "MODES", "Finding", "compare", "registry_key"]

FIELDS = (
    "authorization_url",
    "token_url",
    "api_base_url",
    "auth_mode",
    "token_auth_method",
    "scope_separator",
)

# Our auth mode -> the registries' words for the same family.
MODES: dict[str, frozenset[str]] = {
    "oauth2": frozenset({"OAUTH2", "oauth2"}),
    "oauth2_client_credentials": frozenset({"OAUTH2_CC"}),
    "oauth2_jwt_bearer": frozenset({"JWT"}),
    "two_step": frozenset({"TWO_STEP"}),
    "api_key": frozenset({"API_KEY"}),
    "bearer": frozenset({"API_KEY"}),
    "basic": frozenset({"BASIC"}),
    "none": frozenset({"NONE"}),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One fact of one provider compared with one registry."""

    provider: str
    registry: str
    field: str
    ours: str
    theirs: tuple[str, ...]
    agrees: bool

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider, self.registry, self.field)

    def __str__(self) -> str:
        theirs = " | ".join(self.theirs) or "-"
        return f"{self.provider} [{self.registry} {self.field}] ours {self.ours}, theirs {theirs}"


def registry_key(provider: str, name: str) -> str | None:
    """The key of catalog ``provider`` in registry ``name`` (None: it names another thing)."""
    aliases = ALIASES.get(provider, {})
    if name in aliases:
        return aliases[name]
    return provider.replace("_", "-") if name == NANGO else provider.replace("_", "")


def compare(catalog: Catalog) -> list[Finding]:
    """Every fact of every catalog provider a registry knows, compared."""
    return [
        finding
        for name in REGISTRIES
        for provider in catalog
        for finding in _compare_one(provider, name, registry(name))
    ]


def _compare_one(
    provider: Provider, name: str, entries: dict[str, RegistryEntry]
) -> Iterator[Finding]:
    key = registry_key(provider.key, name)
    entry = entries.get(key) if key is not None else None
    if entry is None:
        return
    auth = provider.auth
    ours_authorize: str | None = getattr(auth, "authorization_url", None)
    ours_token: str | None = getattr(auth, "token_url", None)
    if name == GRANT and ours_authorize is None:
        return  # grant holds authorization flows only
    checks: list[tuple[str, str | None, tuple[str, ...], bool]] = []
    if ours_authorize is not None and entry.authorization_urls:
        agrees = any(
            url_agrees(url, entry.authorization_urls) for url in _forms(provider, ours_authorize)
        )
        checks.append(("authorization_url", ours_authorize, entry.authorization_urls, agrees))
    if ours_token is not None and entry.token_urls:
        agrees = any(url_agrees(url, entry.token_urls) for url in _forms(provider, ours_token))
        checks.append(("token_url", ours_token, entry.token_urls, agrees))
    if provider.api_base_url is not None and entry.api_base_urls:
        base = provider.api_base_url
        agrees = any(base_url_agrees(url, entry.api_base_urls) for url in _forms(provider, base))
        checks.append(("api_base_url", base, entry.api_base_urls, agrees))
    if entry.auth_mode is not None:
        agrees = entry.auth_mode in MODES[provider.auth_mode]
        checks.append(("auth_mode", provider.auth_mode, (entry.auth_mode,), agrees))
    if provider.auth_mode == "oauth2" and entry.auth_mode == "OAUTH2":
        method: str = getattr(auth, "token_auth_method")  # noqa: B009 - narrowed by auth_mode
        separator: str = getattr(auth, "scope_separator")  # noqa: B009
        if entry.client_auth is not None:
            checks.append(
                ("token_auth_method", method, (entry.client_auth,), method == entry.client_auth)
            )
        if entry.scope_separator is not None:
            theirs_sep = (repr(entry.scope_separator),)
            checks.append(
                ("scope_separator", repr(separator), theirs_sep, separator == entry.scope_separator)
            )
    for field, ours, theirs, agrees in checks:
        assert ours is not None
        yield Finding(provider.key, name, field, ours, theirs, agrees)


def _forms(provider: Provider, template: str) -> list[str]:
    """``template`` and, when each of its placeholders names a config property with an enum,
    every URL those values make."""
    names = placeholders(template)
    properties: dict[str, Any] = provider.config_schema.get("properties", {})
    choices = [properties.get(name, {}).get("enum") for name in names]
    if not names or not all(isinstance(values, list) for values in choices):
        return [template]
    forms = [template]
    for values in itertools.product(*(c for c in choices if c is not None)):
        url = template
        for name, value in zip(names, values, strict=True):
            url = url.replace("{" + name + "}", str(value))
        forms.append(url)
    return forms


def summary(findings: Iterable[Finding]) -> list[str]:
    """Counts per registry and field: compared, agreed, excepted, and any unexplained."""
    found = list(findings)
    lines = []
    for name in REGISTRIES:
        mine = [f for f in found if f.registry == name]
        providers = {f.provider for f in mine}
        agreeing = {f.provider for f in mine} - {f.provider for f in mine if not f.agrees}
        lines.append(
            f"{name}: {len(providers)} providers compared, {len(agreeing)} agree on every fact"
        )
        counts: Counter[tuple[str, str]] = Counter()
        for f in mine:
            state = "agree" if f.agrees else ("excepted" if f.key in EXCEPTIONS else "DISAGREE")
            counts[(f.field, state)] += 1
        for field in FIELDS:
            total = sum(n for (fld, _), n in counts.items() if fld == field)
            if total:
                parts = ", ".join(
                    f"{counts[(field, s)]} {s}"
                    for s in ("agree", "excepted", "DISAGREE")
                    if counts[(field, s)]
                )
                lines.append(f"  {field}: {total} compared: {parts}")
    return lines


if __name__ == "__main__":
    from tether.catalog.loader import parse_packaged

    results = compare(parse_packaged(check_json_schema=False))
    print("\n".join(summary(results)))
    for finding in results:
        if not finding.agrees and finding.key not in EXCEPTIONS:
            print("DISAGREE", finding)

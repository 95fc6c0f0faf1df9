"""Two other open provider registries, read as evidence for the catalog's facts.

`make install` puts them in ``tests/registries/node_modules`` from npm, pinned by
``tests/registries/package-lock.json``; they are read there at test time and never copied into
Tether or its bundle:

- ``grant`` (MIT): ``config/oauth.json``, each provider's ``authorize_url`` and
  ``access_url`` and its OAuth version (``oauth``: 1 or 2). Templated hosts are written
  ``[subdomain]``.
- ``@nangohq/providers`` (Nango's repository is under the Elastic License 2.0, which allows
  this use; the package declares no licence of its own): ``providers.yaml``, each provider's
  ``auth_mode``, ``authorization_url``, ``token_url`` and ``proxy.base_url``. An entry with
  ``alias`` takes its alias's fields under its own (a shallow merge, as Nango's loader does);
  templates are ``${connectionConfig.name}``, and ``a || b`` offers ``b`` when ``a``'s
  values are missing. A template whose ``connection_config`` property has an ``enum`` counts
  as itself and as each URL those values make. Its ``token_request_auth_method`` (``basic``,
  else the form body) and ``scope_separator`` (a space unless given) are kept too.

URLs are compared normalised (:func:`normalise_url`): scheme and host lower-cased, any
placeholder written ``{}``, no trailing slash on the path. A registry's alternatives all
count: ours agrees when it equals one of them.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "GRANT",
    "NANGO",
    "REGISTRIES",
    "RegistryEntry",
    "base_url_agrees",
    "normalise_url",
    "registry",
    "url_agrees",
]

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "tests" / "registries" / "node_modules"
GRANT = "grant"
NANGO = "nango"
REGISTRIES = (GRANT, NANGO)

# {name} (ours), ${connectionConfig.name} (Nango), [subdomain] (grant).
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\{[^}]*\}|\[[a-z_]+\]")


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One provider as a registry describes it; each URL field holds its alternatives."""

    key: str
    auth_mode: str | None
    authorization_urls: tuple[str, ...]
    token_urls: tuple[str, ...]
    api_base_urls: tuple[str, ...]
    client_auth: str | None = None
    scope_separator: str | None = None


def registry(name: str) -> dict[str, RegistryEntry]:
    """The entries of registry ``name`` (``grant`` or ``nango``), by its keys."""
    return {GRANT: _grant, NANGO: _nango}[name]()


def normalise_url(url: str) -> str:
    """``url`` with scheme and host lower-cased, placeholders as ``{}``, no trailing slash."""
    text = _PLACEHOLDER.sub("{}", url.strip())
    parts = urlsplit(text)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def url_agrees(ours: str, theirs: tuple[str, ...]) -> bool:
    """Whether ``ours`` equals one of ``theirs``, normalised."""
    return normalise_url(ours) in {normalise_url(url) for url in theirs}


def base_url_agrees(ours: str, theirs: tuple[str, ...]) -> bool:
    """Whether our API base URL and one of theirs name the same host and one's path is the
    other's or starts it (registries often stop at the host, we name the version)."""
    mine = normalise_url(ours)
    for url in theirs:
        other = normalise_url(url)
        shorter, longer = sorted((mine, other), key=len)
        if longer == shorter or longer.startswith(shorter + "/"):
            return True
    return False


def _alternatives(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split("||") if part.strip())
    if isinstance(value, dict):  # per auth mode (Nango's CUSTOM)
        return tuple(url for item in value.values() for url in _alternatives(item))
    return ()


@functools.cache
def _grant() -> dict[str, RegistryEntry]:
    data = json.loads((MODULES / "grant" / "config" / "oauth.json").read_text("utf-8"))
    return {
        key: RegistryEntry(
            key=key,
            auth_mode=f"oauth{entry['oauth']}" if "oauth" in entry else None,
            authorization_urls=_alternatives(entry.get("authorize_url")),
            token_urls=_alternatives(entry.get("access_url")),
            api_base_urls=(),
        )
        for key, entry in data.items()
    }


@functools.cache
def _nango() -> dict[str, RegistryEntry]:
    import yaml

    path = MODULES / "@nangohq" / "providers" / "providers.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data: dict[str, Any] = yaml.load(path.read_text("utf-8"), Loader=loader)  # noqa: S506
    found = {}
    for key, raw in data.items():
        entry = dict(raw)
        alias = entry.pop("alias", None)
        if alias is not None:
            entry = {**data[alias], **entry}
        proxy = entry.get("proxy") or {}
        config = entry.get("connection_config") or {}
        found[key] = RegistryEntry(
            key=key,
            auth_mode=entry.get("auth_mode"),
            authorization_urls=_expanded(entry.get("authorization_url"), config),
            token_urls=_expanded(entry.get("token_url"), config),
            api_base_urls=_expanded(proxy.get("base_url"), config),
            client_auth=_NANGO_CLIENT_AUTH.get(entry.get("token_request_auth_method")),
            scope_separator=entry.get("scope_separator", " "),
        )
    return found


# Nango sends the client's credentials in the form body unless ``token_request_auth_method``
# says ``basic`` (others, like ``private_key_jwt``, are no secret-based method: not compared).
_NANGO_CLIENT_AUTH: dict[str | None, str] = {
    None: "client_secret_post",
    "basic": "client_secret_basic",
}

_NANGO_PLACEHOLDER = re.compile(r"\$\{connectionConfig\.([^}]+)\}")


def _expanded(value: Any, config: dict[str, Any]) -> tuple[str, ...]:
    """Nango's alternatives of ``value``, each also with its enum-valued placeholders filled."""
    forms: list[str] = []
    for url in _alternatives(value):
        forms.append(url)
        names = list(dict.fromkeys(_NANGO_PLACEHOLDER.findall(url)))
        choices = [(config.get(name) or {}).get("enum") for name in names]
        if not names or not all(isinstance(values, list) for values in choices):
            continue
        for values in itertools.product(*(c for c in choices if c is not None)):
            filled = url
            for name, chosen in zip(names, values, strict=True):
                filled = filled.replace("${connectionConfig." + name + "}", str(chosen))
            forms.append(filled)
    return tuple(forms)

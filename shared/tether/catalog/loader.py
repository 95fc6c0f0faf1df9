"""Load the catalog files into a :class:`Catalog`, and query it.

The packaged catalog is the domain files ``providers/<domain>.yaml`` by file name, listed in
the order ``providers.yaml`` gives (:mod:`tether.catalog.sources`). File layout, the same in
every domain file::

    version: 1
    definitions: {...}        # optional: YAML anchors reused below, ignored otherwise
    providers:
      <key>: {<Provider fields, ``key`` optional>}

The packaged file is parsed once per process (``functools.cache``) with libyaml's
``CSafeLoader`` when PyYAML was built with it, the pure-Python ``SafeLoader`` otherwise.
Duplicate mapping keys are an error (plain YAML keeps the last one silently). A broken entry
raises :class:`~tether.domain.errors.ConfigurationError` (code ``CATALOG_INVALID``) naming the
provider key.

Cold start: checking every schema against the JSON Schema 2020-12 meta-schema costs ~90 ms and
building the sync definition models ~15 ms, so the packaged file, which the unit suite validates
in full (``check_json_schema=True``) on every CI run, is loaded without those two checks (its
syncs are validated on first use, ``Provider.validated_syncs``); every other rule still runs.
Any other file gets the full check. ``yaml`` and ``jsonschema`` are imported on first use, not
with the package.

Cold start, continued: the packaged catalog is deferred. Loading it reads its files and finds
each entry's lines (~1 ms for 150+ entries); an entry is parsed and validated when first
asked for (``get``), and every entry when the catalog is listed, searched or iterated. A
broken packaged entry therefore fails on first use rather than at load; ``tether catalog
check`` (part of ``make test``) validates every entry in full.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tether.catalog.schema import AUTH_MODES, CATEGORIES, REGIONS, Provider
from tether.catalog.sources import (
    CatalogSource,
    EntrySpan,
    catalog_order,
    entry_spans,
    listed_first,
    packaged_index,
    packaged_sources,
)
from tether.domain.errors import ConfigurationError, InvalidRequest, NotFound

__all__ = ["Catalog", "load_catalog", "parse_catalog", "parse_sources"]

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_TOP_LEVEL = frozenset({"version", "definitions", "providers"})


class Catalog:
    """Providers in file order, looked up by key and filtered for the public catalog.

    Built from validated providers, or (:meth:`deferred`) from one loader per key that
    parses and validates its entry on first use.
    """

    __slots__ = ("_haystacks", "_load_all", "_loaders", "_providers")

    def __init__(self, providers: Iterable[Provider]) -> None:
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            if provider.key in self._providers:
                raise ConfigurationError(
                    f"Catalog lists provider '{provider.key}' twice.",
                    code="CATALOG_INVALID",
                    details={"provider": provider.key},
                )
            self._providers[provider.key] = provider
        self._loaders: dict[str, Callable[[], Provider]] = {}
        self._load_all: Callable[[], Iterable[Provider]] | None = None
        self._haystacks: dict[str, str] = {}

    @classmethod
    def deferred(
        cls,
        loaders: Mapping[str, Callable[[], Provider]],
        *,
        load_all: Callable[[], Iterable[Provider]] | None = None,
    ) -> Catalog:
        """A catalog of ``loaders`` (key -> a function returning that key's provider), each
        called at most once, when its provider is first needed. ``load_all``, if given,
        returns every provider at once more cheaply (a listing of a fresh catalog uses it)."""
        catalog = cls(())
        catalog._loaders = dict(loaders)
        catalog._load_all = load_all
        return catalog

    def get(self, key: str) -> Provider:
        """The provider named ``key``; :class:`NotFound` (``UNKNOWN_PROVIDER``) otherwise."""
        provider = self._providers.get(key)
        if provider is not None:
            return provider
        loader = self._loaders.get(key)
        if loader is None:
            shown = key if len(key) <= 64 and set(key) <= _KEY_CHARS else None
            raise NotFound(
                f"Unknown provider '{shown}'." if shown else "Unknown provider.",
                code="UNKNOWN_PROVIDER",
            )
        # Two threads may both parse it; both get an equal provider, the last one is kept.
        provider = self._providers[key] = loader()
        return provider

    def keys(self) -> list[str]:
        return list(self._loaders or self._providers)

    def search(
        self,
        *,
        q: str | None = None,
        category: str | None = None,
        auth_mode: str | None = None,
        region: str | None = None,
    ) -> list[Provider]:
        """Providers matching every given filter, in catalog order.

        ``q`` is a case-insensitive substring of the key, display name, description or a
        category. A provider available ``global``-ly matches any ``region``. An unknown
        category, auth mode or region is an :class:`InvalidRequest` (``INVALID_FILTER``).
        """
        _check_choice("category", category, CATEGORIES)
        _check_choice("auth_mode", auth_mode, AUTH_MODES)
        _check_choice("region", region, REGIONS)
        needle = q.strip().casefold() if q else ""
        found = []
        for provider in self:
            if category is not None and category not in provider.categories:
                continue
            if auth_mode is not None and provider.auth_mode != auth_mode:
                continue
            if region is not None and not {region, "global"} & set(provider.regions):
                continue
            if needle and needle not in self._haystack(provider):
                continue
            found.append(provider)
        return found

    def _haystack(self, provider: Provider) -> str:
        found = self._haystacks.get(provider.key)
        if found is None:
            p = provider
            found = " ".join([p.key, p.display_name, p.description, *p.categories]).casefold()
            self._haystacks[provider.key] = found
        return found

    def with_config_defaults(self, defaults: Mapping[str, Mapping[str, Any]]) -> Catalog:
        """A copy whose providers' config properties default to ``defaults[provider][name]``
        (a deployment's own values, such as the address of ``tether dev``'s demo provider).
        Each value must be valid for its property; anything else is a
        :class:`ConfigurationError`, at start-up."""
        from tether.catalog.schema_check import ecma_validator_class

        changed: dict[str, Provider] = {}
        for key, values in defaults.items():
            provider = self.get(key) if key in self else None
            properties = (provider.config_schema.get("properties") if provider else None) or {}
            unknown = sorted(set(values) - set(properties))
            if provider is None or unknown:
                raise ConfigurationError(
                    f"config defaults name an unknown provider or property ({key}: {unknown})",
                    code="CATALOG_INVALID",
                )
            schema = copy.deepcopy(provider.config_schema)
            for name, value in values.items():
                if not ecma_validator_class()(properties[name]).is_valid(value):
                    raise ConfigurationError(
                        f"the config default of {key}.{name} does not fit its schema",
                        code="CATALOG_INVALID",
                    )
                schema["properties"][name]["default"] = value
            changed[key] = provider.model_copy(update={"config_schema": schema})
        return self.with_providers(changed)

    def with_api_base_urls(self, urls: Mapping[str, str]) -> Catalog:
        """A copy whose providers named in ``urls`` call their API there (a stand-in for
        tests and the demo). A test request the entry addresses to its API's host by a full
        URL (Xero's ``https://api.xero.com/connections`` beside its ``/api.xro/2.0`` base)
        goes to the stand-in's host too, as a post-connect path does. An unknown provider is
        a :class:`ConfigurationError`, at start-up."""
        changed: dict[str, Provider] = {}
        for key, url in urls.items():
            if key not in self:
                raise ConfigurationError(
                    f"API base URLs name an unknown provider ({key})", code="CATALOG_INVALID"
                )
            provider = self.get(key)
            update: dict[str, Any] = {"api_base_url": url}
            test = provider.test
            moved = _on_stand_in(test.path, provider.api_base_url, url) if test else None
            if test is not None and moved is not None:
                update["test"] = test.model_copy(update={"path": moved})
            changed[key] = provider.model_copy(update=update)
        return self.with_providers(changed)

    def with_providers(self, changed: Mapping[str, Provider]) -> Catalog:
        """A copy in which the entries of ``changed`` replace those of the same key; every
        other entry is still parsed on first use."""
        loaders: dict[str, Callable[[], Provider]] = {
            key: functools.partial(_constant, changed[key])
            if key in changed
            else functools.partial(self.get, key)
            for key in self.keys()
        }
        return Catalog.deferred(loaders)

    def __contains__(self, key: object) -> bool:
        return key in (self._loaders or self._providers)

    def __iter__(self) -> Iterator[Provider]:
        load_all, self._load_all = self._load_all, None
        if load_all is not None and len(self._providers) < len(self._loaders):
            for provider in load_all():
                self._providers.setdefault(provider.key, provider)
        return iter([self.get(key) for key in self.keys()])

    def __len__(self) -> int:
        return len(self._loaders or self._providers)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} providers)"


def _on_stand_in(address: str, api_base_url: str | None, stand_in: str) -> str | None:
    """``address`` on the stand-in's origin when it is a full URL on the origin of the API's
    own (fixed) base URL; ``None`` otherwise."""
    from urllib.parse import urlsplit

    if api_base_url is None or "{" in api_base_url or "{" in address:
        return None
    target, api, there = urlsplit(address), urlsplit(api_base_url), urlsplit(stand_in)
    if not target.scheme or (target.scheme, target.netloc) != (api.scheme, api.netloc):
        return None
    return target._replace(scheme=there.scheme, netloc=there.netloc).geturl()


def _constant(provider: Provider) -> Provider:
    return provider


def _check_choice(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise InvalidRequest(
            f"Unknown {name} filter; use one of: {', '.join(allowed)}.",
            code="INVALID_FILTER",
            details={"filter": name, "allowed": list(allowed)},
        )


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog in ``path`` (validated in full), or the packaged catalog (indexed once per
    process, each entry validated on first use: see the module)."""
    if path is None:
        return _packaged_catalog()
    return parse_catalog(path.read_text(encoding="utf-8"), source=path.name)


@functools.cache
def _packaged_catalog() -> Catalog:
    sources = packaged_sources()
    first = listed_first(packaged_index())
    spans = {span.key: span for span in _indexed(sources)}
    loaders: dict[str, Callable[[], Provider]] = {
        key: functools.partial(_parse_span, spans[key]) for key in catalog_order(spans, first)
    }
    # A listing parses each file once instead of each entry with its file's head.
    return Catalog.deferred(
        loaders,
        load_all=functools.partial(
            parse_sources, sources, check_json_schema=False, listed_first=first
        ),
    )


def _indexed(sources: Iterable[CatalogSource]) -> list[EntrySpan]:
    """Every entry span of ``sources`` in order; a key in two places is ``CATALOG_INVALID``."""
    spans: dict[str, EntrySpan] = {}
    for source in sources:
        for span in entry_spans(source):
            first = spans.get(span.key)
            if first is not None:
                raise ConfigurationError(
                    f"provider '{span.key}' is in {first.source.name} and in {source.name}",
                    code="CATALOG_INVALID",
                    details={"provider": span.key},
                )
            spans[span.key] = span
    return list(spans.values())


def _parse_span(span: EntrySpan, *, check_json_schema: bool = False) -> Provider:
    """One entry parsed alone (its file's head and its own lines) and validated."""
    document = _document(span.document(), span.source.name)
    entry = document["providers"].get(span.key)
    return _provider(span.key, entry, span.source.name, check_json_schema)


def parse_sources(
    sources: Iterable[CatalogSource],
    *,
    check_json_schema: bool = True,
    listed_first: Iterable[str] = (),
) -> Catalog:
    """Every file of ``sources`` parsed in full and validated, as one catalog in file order
    but for the keys of ``listed_first``, which come first in that order."""
    providers: list[Provider] = []
    seen: dict[str, str] = {}
    for source in sources:
        for provider in parse_catalog(
            source.text, source=source.name, check_json_schema=check_json_schema
        ):
            if provider.key in seen:
                raise ConfigurationError(
                    f"provider '{provider.key}' is in {seen[provider.key]} and in {source.name}",
                    code="CATALOG_INVALID",
                    details={"provider": provider.key},
                )
            seen[provider.key] = source.name
            providers.append(provider)
    by_key = {provider.key: provider for provider in providers}
    return Catalog(by_key[key] for key in catalog_order(by_key, listed_first))


def parse_packaged(*, check_json_schema: bool = True) -> Catalog:
    """The packaged catalog parsed and validated in full, every file at once (the check)."""
    return parse_sources(
        packaged_sources(),
        check_json_schema=check_json_schema,
        listed_first=listed_first(packaged_index()),
    )


def parse_catalog(
    text: str, *, source: str = "<catalog>", check_json_schema: bool = True
) -> Catalog:
    """Parse and validate catalog YAML ``text``; ``source`` names it in error messages.

    ``check_json_schema=False`` skips only the meta-schema check of the two JSON schemas and
    defers the check of the syncs to their first use.
    """
    providers = _document(text, source)["providers"].items()
    return Catalog(_provider(key, entry, source, check_json_schema) for key, entry in providers)


def _document(text: str, source: str) -> dict[str, Any]:
    """The parsed catalog document ``text``: a mapping with a ``providers`` mapping."""
    import yaml

    try:
        document = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"{source} is not valid YAML: {exc}", code="CATALOG_INVALID"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("providers"), dict):
        raise ConfigurationError(
            f"{source} must be a mapping with a 'providers' mapping.", code="CATALOG_INVALID"
        )
    extra = sorted(set(document) - _TOP_LEVEL)
    if extra:
        raise ConfigurationError(
            f"{source} has unknown top-level keys: {', '.join(map(str, extra))}.",
            code="CATALOG_INVALID",
        )
    return document


def _provider(key: Any, entry: Any, source: str, check_json_schema: bool) -> Provider:
    def fail(reason: str) -> ConfigurationError:
        return ConfigurationError(
            f"{source}: provider '{key}' is invalid: {reason}",
            code="CATALOG_INVALID",
            details={"provider": str(key)},
        )

    if not isinstance(entry, dict):
        raise fail("its entry must be a mapping")
    if "key" in entry and entry["key"] != key:
        raise fail(f"its key field '{entry['key']}' differs from its mapping key")
    try:
        return Provider.model_validate(
            {**entry, "key": key},
            context={"check_json_schema": check_json_schema, "check_syncs": check_json_schema},
        )
    except ValidationError as exc:
        raise fail(_summarize(exc)) from None


def _summarize(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:limit]:
        where = ".".join(str(part) for part in error["loc"]) or "entry"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


@functools.cache
def _strict_loader() -> type[Any]:
    """A SafeLoader (libyaml's when available) that refuses duplicate keys in a mapping.

    Merge keys (``<<: *anchor``) may still be overridden by the mapping's own keys.
    """
    import yaml

    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merge_tag = "tag:yaml.org,2002:merge"

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == merge_tag:
                continue
            key = loader.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return loader.construct_mapping(node, deep=True)

    loader: type[yaml.SafeLoader] = type("StrictSafeLoader", (base,), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return loader

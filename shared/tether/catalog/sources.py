"""The packaged catalog's files, and where each entry sits in them.

Every entry lives in a domain file, ``providers/<domain>.yaml``; the domain files are read in
file-name order. Every domain file has the same shape (``version``, optional ``definitions``
whose anchors only that file uses, and ``providers``); a key may appear in one file only.
``providers.yaml`` holds no entry, only the catalog's order: the public catalog lists the keys
of its ``listed_first`` list first, in that order (the headline providers, which the catalog
has always shown first), then every other entry in domain-file order (:func:`catalog_order`).

Cold start: parsing the YAML of every entry costs ~0.2 ms an entry, so a function that needs
one provider (``catalog.get("stripe")``) parses that entry alone. :func:`entry_spans` finds
each entry's lines without parsing: inside ``providers:``, an entry starts at a line holding
only its key, indented two spaces, and runs to the next one. :meth:`EntrySpan.document`
is the file's head (everything above ``providers:``, so the anchors of ``definitions``
resolve) plus that entry. ``tether catalog check`` proves, for every entry, that parsing it
alone gives what parsing its whole file gives, so an entry written otherwise fails the check.

Hand-written line scanning rather than a YAML event stream: libyaml's parser would still
scan the whole file, which is the cost this avoids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from tether.domain.errors import ConfigurationError

__all__ = [
    "CatalogSource",
    "EntrySpan",
    "catalog_order",
    "entry_spans",
    "listed_first",
    "packaged_index",
    "packaged_sources",
]

INDEX_FILE = "providers.yaml"
DOMAIN_FOLDER = "providers"

_PROVIDERS_LINE = re.compile(r"^providers:[ \t]*(#.*)?$", re.MULTILINE)
_ENTRY_LINE = re.compile(r"^  ([A-Za-z0-9_]+):[ \t]*(#.*)?$", re.MULTILINE)
_TOP_LEVEL_LINE = re.compile(r"^[^\s#]", re.MULTILINE)
_LISTED_FIRST_LINE = re.compile(r"^listed_first:[ \t]*(#.*)?$", re.MULTILINE)
_LISTED_KEY_LINE = re.compile(r"^  - ([A-Za-z0-9_]+)[ \t]*(#.*)?$")


@dataclass(frozen=True, slots=True)
class CatalogSource:
    """One catalog file: its name relative to the package (``providers/crm.yaml``) and text."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class EntrySpan:
    """One entry's place in its file: ``text[start:end]`` are its lines."""

    key: str
    source: CatalogSource
    head_end: int
    start: int
    end: int

    @property
    def lines(self) -> str:
        return self.source.text[self.start : self.end]

    def document(self) -> str:
        """A catalog document holding the file's head and this entry alone."""
        return f"{self.source.text[: self.head_end]}providers:\n{self.lines}"


def packaged_sources() -> list[CatalogSource]:
    """The domain files ``providers/*.yaml`` by file name, as packaged."""
    folder = resources.files("tether.catalog").joinpath(DOMAIN_FOLDER)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return [CatalogSource(f"{DOMAIN_FOLDER}/{f.name}", f.read_text("utf-8")) for f in files]


def packaged_index() -> CatalogSource:
    """The packaged ``providers.yaml``: the catalog's order (see the module)."""
    text = resources.files("tether.catalog").joinpath(INDEX_FILE).read_text("utf-8")
    return CatalogSource(INDEX_FILE, text)


def listed_first(index: CatalogSource) -> list[str]:
    """The keys of the index's ``listed_first`` block list (``  - key`` lines), in order.

    Read by lines, not parsed as YAML (cold start); ``tether catalog check`` proves the YAML
    parse gives the same list."""
    found = _LISTED_FIRST_LINE.search(index.text)
    if found is None:
        raise ConfigurationError(
            f"{index.name} has no 'listed_first:' line", code="CATALOG_INVALID"
        )
    keys: list[str] = []
    for line in index.text[found.end() + 1 :].splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _LISTED_KEY_LINE.match(line)
        if item is None:
            break
        keys.append(item.group(1))
    return keys


def catalog_order(keys: Iterable[str], first: Iterable[str]) -> list[str]:
    """``keys`` (file order) with those named in ``first`` moved ahead, in ``first``'s order;
    a name of ``first`` that is not a key is left out."""
    present = list(dict.fromkeys(keys))
    known = set(present)
    ahead = [key for key in dict.fromkeys(first) if key in known]
    chosen = set(ahead)
    return ahead + [key for key in present if key not in chosen]


def entry_spans(source: CatalogSource) -> list[EntrySpan]:
    """The entries of ``source`` in file order, found by their key lines (see the module)."""
    text = source.text
    found = _PROVIDERS_LINE.search(text)
    if found is None:
        raise ConfigurationError(f"{source.name} has no 'providers:' line", code="CATALOG_INVALID")
    body_start = found.end() + 1
    later = _TOP_LEVEL_LINE.search(text, body_start)
    if later is not None:
        raise ConfigurationError(
            f"{source.name}: 'providers' must be the file's last top-level key",
            code="CATALOG_INVALID",
        )
    starts = [(m.group(1), m.start()) for m in _ENTRY_LINE.finditer(text, body_start)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return [
        EntrySpan(key=key, source=source, head_end=found.start(), start=start, end=end)
        for (key, start), end in zip(starts, ends, strict=True)
    ]

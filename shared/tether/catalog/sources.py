"""The packaged catalog's files, and where each entry sits in them.

The catalog is ``providers.yaml`` followed by the domain files ``providers/<domain>.yaml`` in
file-name order; the public catalog lists entries in that order. Every file has the same
shape (``version``, optional ``definitions`` whose anchors only that file uses, and
``providers``); a key may appear in one file only.

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
from dataclasses import dataclass
from importlib import resources

from tether.domain.errors import ConfigurationError

__all__ = ["CatalogSource", "EntrySpan", "entry_spans", "packaged_sources"]

MAIN_FILE = "providers.yaml"
DOMAIN_FOLDER = "providers"

_PROVIDERS_LINE = re.compile(r"^providers:[ \t]*(#.*)?$", re.MULTILINE)
_ENTRY_LINE = re.compile(r"^  ([A-Za-z0-9_]+):[ \t]*(#.*)?$", re.MULTILINE)
_TOP_LEVEL_LINE = re.compile(r"^[^\s#]", re.MULTILINE)


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
    """``providers.yaml`` and then ``providers/*.yaml`` by file name, as packaged."""
    package = resources.files("tether.catalog")
    sources = [CatalogSource(MAIN_FILE, package.joinpath(MAIN_FILE).read_text("utf-8"))]
    folder = package.joinpath(DOMAIN_FOLDER)
    if folder.is_dir():
        files = sorted(
            (f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name
        )
        for file in files:
            sources.append(CatalogSource(f"{DOMAIN_FOLDER}/{file.name}", file.read_text("utf-8")))
    return sources


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

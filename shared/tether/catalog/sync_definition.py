"""A sync definition: which records to pull from a provider's API, how to page through them,
how to ask only for what changed, and how deletions show.

The same shape serves a catalog entry's ``syncs`` and a tenant's own sync on a ``rest_api`` or
``graphql_api`` connection::

    {"model": "Invoice", "request": {"path": "/invoices", "params": {"limit": 100}},
     "records_path": "data", "id_path": "id", "updated_at_path": "updated_at",
     "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"},
     "incremental": {"param": "updated_since", "format": "iso8601"},
     "deletes": "full_refresh", "frequency": "1h"}

``pagination`` is exactly fetch's (:data:`tether.http.pagination.PaginationSpec`), checked
against the request by the same rule (:func:`~tether.http.pagination.check_spec`).
``incremental`` is optional: without it every run is a full run. It names the provider's
modified-since parameter, where it goes (``param_in``: the query, a header, or a dotted path
of the JSON body) and how its value is written. ``deletes``: ``none``; ``full_refresh``
(records a complete full run did not see are deleted); or a tombstone, a record whose
``tombstone_path`` is ``tombstone_value`` (truthy, without a value) is a deletion.
``frequency``: ``<n>m``, ``<n>h`` or ``<n>d``, at least one minute (:func:`parse_frequency`).

A provider's quirks are not ``if provider ==`` branches: ``hooks`` names registered functions
(:mod:`tether.sync.hooks`) for the three places an API may depart from the shape above. This
module checks only that a name is well formed; that every name is registered is checked where
the functions live (:func:`tether.sync.definitions.check_hooks`, and a unit test over the whole
catalog), since the catalog sits below the capabilities that implement them.

The models live in the catalog, beside the probe request and the webhook spec, because the
catalog's schema validates them; the ``sync`` capability re-exports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from tether.catalog.templates import PLACEHOLDER, placeholders
from tether.http.pagination import (
    DOTTED_PATH,
    CursorPagination,
    PaginationError,
    PaginationSpec,
    check_spec,
)
from tether.http.request_size import check_body_size, check_params_size

__all__ = [
    "DELETE_MODES",
    "HOOK_NAME",
    "INCREMENTAL_FORMATS",
    "MAX_FREQUENCY",
    "MIN_FREQUENCY",
    "SYNC_NAME",
    "Deletes",
    "Frequency",
    "Incremental",
    "SyncDefinition",
    "SyncHooks",
    "SyncRequest",
    "Tombstone",
    "check_sync_templates",
    "parse_frequency",
    "validate_syncs",
]

SYNC_NAME = r"^[a-z][a-z0-9_]{0,63}$"
HOOK_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_MODEL_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_QUERY_PARAM = re.compile(r"^[A-Za-z0-9_.$@\[\]-]{1,100}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")  # RFC 9110 §5.6.2 token
_BODY_PATH = re.compile(DOTTED_PATH)
_MAX_PATH_CHARS = 200

MIN_FREQUENCY = timedelta(minutes=1)
MAX_FREQUENCY = timedelta(days=366)
_FREQUENCY = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}

INCREMENTAL_FORMATS = ("iso8601", "iso8601_date", "unix", "unix_ms")
DELETE_MODES = ("none", "full_refresh")

ParamValue = str | int | float | bool


def parse_frequency(text: str) -> timedelta:
    """``15m`` → 15 minutes: a whole number and one unit, ``m`` (minutes), ``h`` (hours) or
    ``d`` (days); from ``1m`` to ``366d``. Anything else raises :class:`ValueError` saying
    what is accepted."""
    match = _FREQUENCY.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            "frequency is a whole number and a unit: m (minutes), h (hours) or d (days), "
            "such as 1m, 15m, 1h or 1d"
        )
    interval = int(match.group(1)) * _UNITS[match.group(2)]
    if interval < MIN_FREQUENCY:  # pragma: no cover - the pattern admits no smaller value
        raise ValueError("frequency must be at least 1m")
    if interval > MAX_FREQUENCY:
        raise ValueError("frequency must be at most 366d")
    return interval


def _check_frequency(value: str) -> str:
    parse_frequency(value)
    return value


Frequency = Annotated[str, AfterValidator(_check_frequency)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncRequest(_Model):
    """The first page's request. ``path`` is appended to the connection's API base URL (a
    sync never takes credentials to another origin) and may name config properties as
    ``{placeholders}``."""

    path: str = Field(min_length=1, max_length=2048)
    params: dict[str, ParamValue] = Field(default_factory=dict)
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | None = None

    @field_validator("path")
    @classmethod
    def _path_shape(cls, value: str) -> str:
        rest = PLACEHOLDER.sub("x", value)
        if "{" in rest or "}" in rest:
            raise ValueError("braces are only allowed around a lowercase placeholder name")
        if any(char.isspace() for char in value) or "#" in value:
            raise ValueError("the path has no whitespace and no fragment")
        if not value.startswith("/"):
            raise ValueError("the path starts with '/' (it is joined to the API base URL)")
        return value

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for name in value:
            if _QUERY_PARAM.match(name) is None:
                raise ValueError(f"'{name[:100]}' is not a query parameter name")
        check_params_size(value)
        return value

    @field_validator("body")
    @classmethod
    def _body_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            check_body_size(value)
        return value

    @model_validator(mode="after")
    def _body_needs_post(self) -> Self:
        if self.body is not None and self.method != "POST":
            raise ValueError("a body needs method POST")
        return self


class Incremental(_Model):
    """The provider's modified-since parameter: ``param`` in the query (a parameter name), a
    header (a header name) or the JSON body (a dotted path, which needs a POST body), its value
    written as ``format``: ``iso8601`` (``2026-01-02T03:04:05Z``), ``iso8601_date``
    (``2026-01-02``), ``unix`` (seconds) or ``unix_ms`` (milliseconds)."""

    param: str = Field(min_length=1, max_length=_MAX_PATH_CHARS)
    format: Literal["iso8601", "iso8601_date", "unix", "unix_ms"]
    param_in: Literal["query", "header", "body"] = "query"

    @model_validator(mode="after")
    def _param_shape(self) -> Self:
        checks = {"query": _QUERY_PARAM, "header": _HEADER_NAME, "body": _BODY_PATH}
        if checks[self.param_in].match(self.param) is None:
            kind = {"query": "query parameter name", "header": "header name"}
            what = kind.get(self.param_in, "dotted path of the body")
            raise ValueError(f"param '{self.param[:100]}' is not a {what}")
        return self


class Tombstone(_Model):
    """A record is a deletion when the value at ``tombstone_path`` equals ``tombstone_value``
    (``None``: when it is truthy), such as ``trashed: true`` or ``status: "cancelled"``."""

    tombstone_path: str = Field(pattern=DOTTED_PATH, max_length=_MAX_PATH_CHARS)
    tombstone_value: str | int | bool | None = None


def _deletes_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "mode"
    if isinstance(value, Mapping | Tombstone):
        return "tombstone"
    return None


Deletes = Annotated[
    Annotated[Literal["none", "full_refresh"], Tag("mode")]
    | Annotated[Tombstone, Tag("tombstone")],
    Discriminator(
        _deletes_kind,
        custom_error_type="deletes",
        custom_error_message="deletes is 'none', 'full_refresh' or {\"tombstone_path\": ...}",
    ),
]


class SyncHooks(_Model):
    """Named quirks (see :mod:`tether.sync.hooks` for the registered names):

    * ``request``: rewrites each page's request just before it is sent, after the pagination
      and the modified-since value are in place (a query language, a filter object);
    * ``next_cursor``: reads the next cursor of cursor pagination from a page instead of
      ``cursor_path`` (the last record's id while the page says there is more);
    * ``updated_at``: reads the value at ``updated_at_path`` when it is not ISO 8601 or a Unix
      time (a Microsoft JSON date).
    """

    request: str | None = Field(default=None, pattern=HOOK_NAME)
    next_cursor: str | None = Field(default=None, pattern=HOOK_NAME)
    updated_at: str | None = Field(default=None, pattern=HOOK_NAME)

    def named(self) -> dict[str, str]:
        """The hooks set, by kind."""
        return {kind: name for kind, name in self.model_dump().items() if name is not None}


class SyncDefinition(_Model):
    """One sync: see the module docstring. Cross-field rules: the pagination must fit the
    request (fetch's rule); a body ``param_in`` needs a POST body; a ``next_cursor`` hook
    needs cursor pagination; the id, updated-at and tombstone paths are dotted paths."""

    model: str = Field(pattern=_MODEL_NAME)
    description: str | None = Field(default=None, max_length=500)
    request: SyncRequest
    records_path: str | None = Field(default=None, pattern=DOTTED_PATH, max_length=200)
    id_path: str = Field(pattern=DOTTED_PATH, max_length=_MAX_PATH_CHARS)
    updated_at_path: str | None = Field(
        default=None, pattern=DOTTED_PATH, max_length=_MAX_PATH_CHARS
    )
    pagination: PaginationSpec | None = None
    incremental: Incremental | None = None
    deletes: Deletes = "full_refresh"
    frequency: Frequency
    hooks: SyncHooks = Field(default_factory=SyncHooks)

    @property
    def interval(self) -> timedelta:
        """``frequency`` as a duration."""
        return parse_frequency(self.frequency)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        try:
            check_spec(
                self.pagination,
                method=self.request.method,
                body=self.request.body,
                records_path=self.records_path,
            )
        except PaginationError as exc:
            raise ValueError(f"pagination: {exc.message}") from None
        incremental = self.incremental
        if incremental is not None and incremental.param_in == "body" and self.request.body is None:
            raise ValueError("incremental.param_in 'body' needs a POST request with a body")
        if self.hooks.next_cursor is not None and not isinstance(self.pagination, CursorPagination):
            raise ValueError("hooks.next_cursor needs cursor pagination")
        return self


def check_sync_templates(
    syncs: Mapping[str, SyncDefinition], *, config_properties: Mapping[str, Any], has_base_url: bool
) -> None:
    """A catalog entry's syncs against the entry: every path placeholder is a config property,
    and the entry has an ``api_base_url`` to join the paths to. Raises :class:`ValueError`."""
    for name, sync in syncs.items():
        if re.match(SYNC_NAME, name) is None:
            raise ValueError(f"syncs: the name '{name[:64]}' is not lowercase letters, digits, _")
        path = sync.request.path
        unknown = [p for p in placeholders(path) if p not in config_properties]
        if unknown:
            raise ValueError(f"syncs.{name}.request.path names undefined config {unknown}")
        if not has_base_url:
            raise ValueError(f"syncs.{name} needs the entry's api_base_url")


def validate_syncs(raw: Mapping[str, Any]) -> dict[str, SyncDefinition]:
    """``{name: definition}`` from a catalog entry's ``syncs`` as written; the first problem
    raises :class:`ValueError` as ``syncs.<name>.<field>: <problem>``."""
    found = {}
    for name, definition in raw.items():
        try:
            found[name] = SyncDefinition.model_validate(definition)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
            where = ".".join(str(part) for part in ("syncs", name, *error["loc"]))
            message = error["msg"].removeprefix("Value error, ")
            raise ValueError(f"{where}: {message}") from None
    return found

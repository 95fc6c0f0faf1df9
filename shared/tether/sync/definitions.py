"""Checking sync definitions: a tenant's own definition (the body of ``PUT /syncs/<id>/<name>``)
and the catalog's, including that every hook they name is registered.

Errors are :class:`~tether.domain.errors.InvalidRequest` with code ``INVALID_SYNC`` and one
``{"field", "problem"}`` per problem in ``details["errors"]``, the shape of every other
validation error of the HTTP API; values the caller sent are never echoed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from tether.catalog.sync_definition import SYNC_NAME, SyncDefinition
from tether.domain.errors import InvalidRequest
from tether.sync.hooks import HOOK_KINDS, registered

__all__ = [
    "INVALID_SYNC",
    "catalog_hook_problems",
    "check_hooks",
    "hook_problems",
    "parse_definition",
]

INVALID_SYNC = "INVALID_SYNC"
_MAX_ERRORS = 20


def _invalid(errors: list[dict[str, str]]) -> InvalidRequest:
    first = errors[0]
    return InvalidRequest(
        f"The sync definition is invalid: {first['field']}: {first['problem']}",
        code=INVALID_SYNC,
        details={"errors": errors[:_MAX_ERRORS]},
    )


def _field(loc: Iterable[int | str]) -> str:
    # pydantic names the union branch it chose ("deletes.tombstone.tombstone_path",
    # "pagination.cursor.cursor_param"); the caller wrote neither.
    parts = [str(part) for part in loc]
    if parts[:1] in (["deletes"], ["pagination"]) and len(parts) > 1:
        parts = [parts[0], *parts[2:]]
    return ".".join(parts) or "body"


def hook_problems(definition: SyncDefinition) -> list[dict[str, str]]:
    """One problem per hook ``definition`` names that is not registered for its kind."""
    problems = []
    named = definition.hooks.named()
    for kind in HOOK_KINDS:
        name = named.get(kind)
        if name is not None and name not in registered(kind):
            known = ", ".join(registered(kind)) or "none"
            problems.append(
                {"field": f"hooks.{kind}", "problem": f"unknown {kind} hook (known: {known})"}
            )
    return problems


def check_hooks(definition: SyncDefinition) -> None:
    """Raise ``INVALID_SYNC`` when ``definition`` names an unregistered hook."""
    problems = hook_problems(definition)
    if problems:
        raise _invalid(problems)


def parse_definition(data: Mapping[str, Any], *, name: str | None = None) -> SyncDefinition:
    """A tenant's sync definition from its JSON object, or ``INVALID_SYNC`` listing every
    field that is wrong (``name``, when given, is checked too)."""
    errors: list[dict[str, str]] = []
    if name is not None and re.match(SYNC_NAME, name) is None:
        errors.append(
            {"field": "name", "problem": "lowercase letters, digits and _, at most 64 long"}
        )
    try:
        definition = SyncDefinition.model_validate(dict(data))
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            message = error["msg"].removeprefix("Value error, ")
            errors.append({"field": _field(error["loc"]), "problem": message})
        raise _invalid(errors) from None
    errors.extend(hook_problems(definition))
    if errors:
        raise _invalid(errors)
    return definition


def catalog_hook_problems(syncs: Mapping[str, Mapping[str, SyncDefinition]]) -> list[str]:
    """``provider.sync.hooks.kind: problem`` for every unregistered hook of the catalog's
    syncs (``syncs``: provider key → sync name → definition)."""
    found = []
    for provider, by_name in syncs.items():
        for sync_name, definition in by_name.items():
            for problem in hook_problems(definition):
                found.append(f"{provider}.{sync_name}.{problem['field']}: {problem['problem']}")
    return found

"""The catalog's actions: ``catalog/actions/<provider>.yaml``, one file per provider::

    provider: google_calendar
    actions:
      <name>: {<ActionDefinition fields, ``name`` optional>}

Read once per process, on first use (only the functions that run actions pay for it), with
the catalog's strict YAML loader (duplicate keys are an error). A broken file raises
:class:`~tether.domain.errors.ConfigurationError` (``CATALOG_INVALID``) naming the provider
and the action.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tether.catalog.action_definition import ActionDefinition
from tether.domain.errors import ConfigurationError

__all__ = ["ActionCatalog", "load_actions", "parse_actions"]

ActionCatalog = Mapping[str, Mapping[str, ActionDefinition]]
"""Provider key → action name → definition."""


def load_actions() -> ActionCatalog:
    """The packaged actions of every provider (parsed once per process)."""
    return _packaged()


@functools.cache
def _packaged() -> ActionCatalog:
    from importlib import resources

    folder = resources.files("tether.catalog").joinpath("actions")
    found: dict[str, Mapping[str, ActionDefinition]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        provider, actions = parse_actions(entry.read_text("utf-8"), source=entry.name)
        if provider in found:
            raise ConfigurationError(
                f"{entry.name}: actions of '{provider}' are defined twice", code="CATALOG_INVALID"
            )
        found[provider] = actions
    return found


def parse_actions(text: str, *, source: str) -> tuple[str, dict[str, ActionDefinition]]:
    """One provider's actions file: its provider key and its actions by name."""
    import yaml

    from tether.catalog.loader import _strict_loader

    def fail(reason: str) -> ConfigurationError:
        return ConfigurationError(f"{source}: {reason}", code="CATALOG_INVALID")

    try:
        document: Any = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - SafeLoader
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"provider", "actions"}
        or not isinstance(document["provider"], str)
        or not isinstance(document["actions"], dict)
    ):
        raise fail("must be a mapping of exactly 'provider' (a key) and 'actions' (a mapping)")
    actions: dict[str, ActionDefinition] = {}
    for name, entry in document["actions"].items():
        if not isinstance(entry, dict):
            raise fail(f"action '{name}' must be a mapping")
        try:
            actions[str(name)] = ActionDefinition.model_validate({**entry, "name": name})
        except ValidationError as exc:
            errors = exc.errors(include_url=False)[:3]
            summary = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}" for e in errors
            )
            raise fail(f"action '{name}' is invalid: {summary}") from None
    return document["provider"], actions

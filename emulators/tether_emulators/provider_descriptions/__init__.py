"""Trimmed copies of the providers' published API descriptions, one ``<catalog key>.json``
each: Google API Discovery documents (Calendar, Gmail, Drive) and OpenAPI documents (HubSpot,
Xero, and Stripe and Shopify rendered in OpenAPI form), cut down to the operations Tether's
actions call. The API simulators check every request against them
(:mod:`tether_emulators.provider_apis`), and Tether's tests check each catalog action's request
against them."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["load_descriptions"]


def load_descriptions() -> dict[str, dict[str, Any]]:
    """Catalog key → its description document, in key order."""
    folder = files(__name__)
    return {
        entry.name.removesuffix(".json"): json.loads(entry.read_text("utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }

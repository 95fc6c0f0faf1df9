"""The provider catalog: declarative entries in ``providers/<domain>.yaml``, validated by pydantic.

from tether.catalog import load_catalog

catalog = load_catalog()                   # packaged file, parsed once per process
xero = catalog.get("xero")                 # NotFound(code="UNKNOWN_PROVIDER") if absent
catalog.search(category="accounting", region="za")
render_template(xero.auth.token_url, connection.config)

The names below are loaded on first use (PEP 562): ``tether.catalog.templates`` and
``tether.catalog.destination`` are imported on every request path, and importing them must not
build the pydantic models of the catalog (~20 ms of a cold start) for a function, such as
listing connections, that never reads an entry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.catalog.loader import Catalog, load_catalog, parse_catalog
    from tether.catalog.schema import (
        AUTH_MODES,
        CATEGORIES,
        REGIONS,
        ApiKeyAuth,
        Auth,
        AuthMode,
        BasicAuth,
        BearerAuth,
        Category,
        ClientCredentialsAuth,
        JwtBearerAuth,
        NoAuth,
        OAuth2Auth,
        ProbeRequest,
        Provider,
        RateLimit,
        RateLimitHeaders,
        Region,
        TwoStepAuth,
        WebhookScheme,
        WebhookSpec,
    )
    from tether.catalog.templates import is_absolute_url, join_url, placeholders, render_template

__all__ = [
    "AUTH_MODES",
    "CATEGORIES",
    "REGIONS",
    "ApiKeyAuth",
    "Auth",
    "AuthMode",
    "BasicAuth",
    "BearerAuth",
    "Catalog",
    "Category",
    "ClientCredentialsAuth",
    "JwtBearerAuth",
    "NoAuth",
    "OAuth2Auth",
    "ProbeRequest",
    "Provider",
    "RateLimit",
    "RateLimitHeaders",
    "Region",
    "TwoStepAuth",
    "WebhookScheme",
    "WebhookSpec",
    "is_absolute_url",
    "join_url",
    "load_catalog",
    "parse_catalog",
    "placeholders",
    "render_template",
]

_MODULES = {
    "tether.catalog.loader": ("Catalog", "load_catalog", "parse_catalog"),
    "tether.catalog.templates": ("is_absolute_url", "join_url", "placeholders", "render_template"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` (the schema for anything else exported)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME.get(name, "tether.catalog.schema")), name)
    globals()[name] = value
    return value

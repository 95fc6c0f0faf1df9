"""The provider catalog: declarative entries in ``providers.yaml``, validated by pydantic.

from tether.catalog import load_catalog

catalog = load_catalog()                   # packaged file, parsed once per process
xero = catalog.get("xero")                 # NotFound(code="UNKNOWN_PROVIDER") if absent
catalog.search(category="accounting", region="za")
render_template(xero.auth.token_url, connection.config)
"""

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
    NoAuth,
    OAuth2Auth,
    Provider,
    RateLimit,
    Region,
    TestRequest,
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
    "NoAuth",
    "OAuth2Auth",
    "Provider",
    "RateLimit",
    "Region",
    "TestRequest",
    "WebhookScheme",
    "WebhookSpec",
    "is_absolute_url",
    "join_url",
    "load_catalog",
    "parse_catalog",
    "placeholders",
    "render_template",
]

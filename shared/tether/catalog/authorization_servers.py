"""A deployment's stand-in authorization servers for catalog providers (``tether dev
--simulators``, tests): a provider's OAuth 2.0 endpoints and issuer answered elsewhere, as
``TETHER_CATALOG_API_BASE_URLS`` does for its API.

Only an ``oauth2`` entry can be pointed elsewhere, and only its ``authorization_url``,
``token_url``, ``revocation_url`` and ``issuer`` (RFC 9207: the ``iss`` its authorization
responses carry); anything else is a :class:`ConfigurationError` at start-up. The settings
refuse this outside ``tether dev`` (:meth:`tether.config.Settings.check`).
"""

from __future__ import annotations

from collections.abc import Mapping

from tether.catalog.loader import Catalog
from tether.catalog.schema import OAuth2Auth, Provider
from tether.domain.errors import ConfigurationError

__all__ = ["ENDPOINT_FIELDS", "with_authorization_servers"]

ENDPOINT_FIELDS = frozenset({"authorization_url", "token_url", "revocation_url", "issuer"})


def with_authorization_servers(
    catalog: Catalog, endpoints: Mapping[str, Mapping[str, str]]
) -> Catalog:
    """A copy of ``catalog`` whose providers named in ``endpoints`` authorize there."""
    changed: dict[str, Provider] = {}
    for key, values in endpoints.items():
        provider = catalog.get(key) if key in catalog else None
        if provider is None or not isinstance(provider.auth, OAuth2Auth):
            raise ConfigurationError(
                f"authorization servers name an unknown or non-OAuth2 provider ({key})",
                code="CATALOG_INVALID",
            )
        unknown = sorted(set(values) - ENDPOINT_FIELDS)
        if unknown or not all(isinstance(v, str) and v for v in values.values()):
            raise ConfigurationError(
                f"the authorization server of {key} takes non-empty "
                f"{', '.join(sorted(ENDPOINT_FIELDS))} only ({', '.join(unknown) or 'empty'})",
                code="CATALOG_INVALID",
            )
        auth = provider.auth.model_copy(update=dict(values))
        changed[key] = provider.model_copy(update={"auth": auth})
    return catalog.with_providers(changed)

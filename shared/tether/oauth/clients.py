"""Which OAuth client talks to a provider for a connection.

* Catalog providers: the endpoints come from the catalog entry (URL templates rendered over
  the connection's config, e.g. a Shopify shop), the client id and secret from Tether's own
  configuration (``TETHER_OAUTH_CLIENT_<PROVIDER>_ID`` / ``_SECRET``), never from the tenant.
* The custom ``oauth2`` provider: the tenant brings its own client, so endpoints, client id,
  scopes and client authentication come from the connection's config and the client secret
  from its credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.catalog.schema import OAuth2Auth, Provider
from tether.catalog.templates import placeholders, render_template
from tether.config import OAuthClientCredentials
from tether.domain.errors import ConfigurationError, InvalidRequest
from tether.http.url_check import check_http_url, check_issuer_url
from tether.oauth.model import OAuthClient

if TYPE_CHECKING:
    from tether.domain.models import Connection
    from tether.ports import SecretStore

__all__ = ["CUSTOM_OAUTH_PROVIDER", "OAuthClients", "requested_scopes"]

CUSTOM_OAUTH_PROVIDER = "oauth2"


def _oauth(provider: Provider) -> OAuth2Auth:
    if not isinstance(provider.auth, OAuth2Auth):
        raise InvalidRequest(
            f"{provider.display_name} does not connect with OAuth2", code="NOT_OAUTH_PROVIDER"
        )
    return provider.auth


def requested_scopes(
    provider: Provider, config: Mapping[str, Any], asked: list[str] | None
) -> list[str]:
    """The scopes to ask for: the caller's, else the custom config's, else the catalog's."""
    if asked:
        return list(asked)
    custom = config.get("scopes") if provider.key == CUSTOM_OAUTH_PROVIDER else None
    if isinstance(custom, list) and custom:
        return [str(s) for s in custom]
    return list(_oauth(provider).default_scopes)


class OAuthClients:
    def __init__(self, registered: Mapping[str, OAuthClientCredentials]) -> None:
        self._registered = registered

    def is_custom(self, provider: Provider) -> bool:
        return provider.key == CUSTOM_OAUTH_PROVIDER

    def client(
        self, provider: Provider, config: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> OAuthClient:
        auth = _oauth(provider)
        if self.is_custom(provider):
            client_id = str(config.get("client_id") or "")
            secret = credentials.get("client_secret")
            client_secret = secret if isinstance(secret, str) and secret else None
            method = config.get("token_auth_method") or auth.token_auth_method
        else:
            registered = self._registered.get(provider.key)
            if registered is None:
                var = f"TETHER_OAUTH_CLIENT_{provider.key.upper()}"
                raise ConfigurationError(
                    f"no OAuth client is configured for {provider.display_name}: "
                    f"set {var}_ID and {var}_SECRET",
                    code="OAUTH_CLIENT_NOT_CONFIGURED",
                )
            client_id = registered.client_id
            client_secret = (
                registered.client_secret.get_secret_value() if registered.client_secret else None
            )
            method = auth.token_auth_method
        if not client_id:
            raise InvalidRequest("the OAuth client id is missing", code="MISSING_CONFIG")
        revocation = None
        if auth.revocation_url and (not self.is_custom(provider) or config.get("revocation_url")):
            revocation = _endpoint(auth.revocation_url, config, "revocation_url")
        return OAuthClient(
            client_id=client_id,
            client_secret=client_secret,
            authorization_url=_endpoint(auth.authorization_url, config, "authorization_url"),
            token_url=_token_url(auth, config),
            revocation_url=revocation,
            token_auth_method=(
                "client_secret_post" if method == "client_secret_post" else "client_secret_basic"
            ),
            token_request_format=auth.token_request_format,
            scope_separator=auth.scope_separator,
            extra_authorize_params=dict(auth.extra_authorize_params),
            pkce=auth.pkce,
            issuer=self._issuer(provider, auth, config),
            default_token_lifetime_seconds=auth.default_token_lifetime_seconds,
        )

    def for_connection(
        self, provider: Provider, connection: Connection, secrets: SecretStore
    ) -> OAuthClient:
        """The client of a stored connection of ``provider``: a custom provider's client
        secret is read from the connection's credentials; a catalog provider's never is."""
        credentials: Mapping[str, Any] = {}
        if self.is_custom(provider) and connection.credential_ref is not None:
            credentials = secrets.get(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                ref=connection.credential_ref,
            )
        return self.client(provider, connection.config, credentials)

    def _issuer(
        self, provider: Provider, auth: OAuth2Auth, config: Mapping[str, Any]
    ) -> str | None:
        """The issuer authorization responses must name (RFC 9207): the custom provider's
        ``config.issuer``, else the catalog's (rendered over the config)."""
        if self.is_custom(provider):
            # The config schema's pattern checked it when the tenant gave it.
            custom = config.get("issuer")
            return str(custom) if custom else None
        if auth.issuer is None:
            return None
        return check_issuer_url(render_template(auth.issuer, config), field="issuer")


def _endpoint(template: str, config: Mapping[str, Any], field: str) -> str:
    """A provider endpoint rendered over the config and parsed the way it will be used, so
    an address no client can reach is a 400 here rather than a 500 mid-flow."""
    return check_http_url(render_template(template, config), field=field)


def _token_url(auth: OAuth2Auth, config: Mapping[str, Any]) -> str:
    """The rendered token endpoint; ``""`` before the callback when it is built from a value
    the callback brings (Zoho's data center), so the authorization request can be made."""
    waiting = set(auth.config_from_callback.values()) - set(config)
    if any(name in waiting for name in placeholders(auth.token_url)):
        return ""
    return _endpoint(auth.token_url, config, "token_url")

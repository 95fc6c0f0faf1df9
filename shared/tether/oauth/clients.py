"""Which OAuth client talks to a provider for a connection.

* Catalog providers: the endpoints come from the catalog entry (URL templates rendered over
  the connection's config, e.g. a Shopify shop), the client id and secret from Tether's own
  configuration (``TETHER_OAUTH_CLIENT_<PROVIDER>_ID`` / ``_SECRET``), never from the tenant.
* The custom ``oauth2`` provider: the tenant brings its own client, so endpoints, client id,
  scopes and client authentication come from the connection's config and the client secret
  from its credentials; with its ``issuer`` alone, the endpoints, PKCE support, revocation
  and whether ``iss`` is sent come from the issuer's metadata (:mod:`tether.oauth.discovery`).
* Connections whose token is issued from their credentials (client credentials, JWT bearer):
  their own client, for revocation (:func:`tether.oauth.token_issuer.issued_token_client`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.catalog.schema import OAuth2Auth, Provider
from tether.catalog.templates import placeholders, render_template
from tether.config import OAuthClientCredentials
from tether.domain.errors import ConfigurationError, InvalidRequest
from tether.http.url_check import check_http_url, check_issuer_url
from tether.oauth.model import OAuthClient

if TYPE_CHECKING:
    from tether.domain.models import Connection
    from tether.oauth.discovery import MetadataDiscovery, ServerMetadata
    from tether.ports import SecretStore

__all__ = ["CUSTOM_OAUTH_PROVIDER", "OAuthClients", "requested_scopes", "with_offline_access"]

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
    """``discovery``: the metadata source of entries with ``discovery`` (built on first use);
    without it, such a connection must name its endpoints. ``now``: the clock of assertions
    signed for a revocation."""

    def __init__(
        self,
        registered: Mapping[str, OAuthClientCredentials],
        *,
        discovery: Callable[[], MetadataDiscovery] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._registered = registered
        self._discovery = discovery
        self._now = now

    def is_custom(self, provider: Provider) -> bool:
        return provider.key == CUSTOM_OAUTH_PROVIDER

    def client(
        self, provider: Provider, config: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> OAuthClient:
        auth = _oauth(provider)
        metadata = self._metadata(auth, config)
        if metadata is not None:
            config = _with_endpoints(config, metadata)
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
        offline = auth.offline_access or (metadata is not None and metadata.offline_access)
        extra = dict(auth.extra_authorize_params)
        if offline:  # OpenID Connect Core §11: a refresh token needs both
            extra["prompt"] = "consent"
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
            extra_authorize_params=extra,
            pkce=auth.pkce and (metadata is None or metadata.pkce),
            issuer=self._issuer(provider, auth, config),
            # RFC 9207 §2.4: a missing `iss` is refused unless the server's metadata says it
            # does not send one; a different one always is.
            issuer_required=metadata is None or metadata.iss_parameter_supported,
            offline_access=offline,
            default_token_lifetime_seconds=auth.default_token_lifetime_seconds,
        )

    def _metadata(self, auth: OAuth2Auth, config: Mapping[str, Any]) -> ServerMetadata | None:
        """The issuer's metadata when the entry discovers endpoints the config leaves out."""
        issuer = config.get("issuer")
        if not auth.discovery or not isinstance(issuer, str) or not issuer:
            return None
        if all(config.get(name) for name in _DISCOVERED):
            return None
        if self._discovery is None:
            raise InvalidRequest(
                "this connection names no endpoints and they cannot be discovered here",
                code="MISSING_CONFIG",
            )
        return self._discovery().metadata(issuer)

    def for_connection(
        self, provider: Provider, connection: Connection, secrets: SecretStore
    ) -> OAuthClient:
        """The client of a stored connection of ``provider``: a custom provider's client
        secret is read from the connection's credentials; a catalog provider's never is.
        A connection whose token is issued from its credentials has its own client
        (:func:`~tether.oauth.token_issuer.issued_token_client`)."""
        credentials: Mapping[str, Any] = {}
        if provider.auth_mode in ISSUED_TOKEN_MODES:
            from tether.oauth.token_issuer import issued_token_client

            if connection.credential_ref is not None:
                credentials = secrets.get(
                    tenant_id=connection.tenant_id,
                    connection_id=connection.id,
                    ref=connection.credential_ref,
                )
            return issued_token_client(provider, connection.config, credentials, now=self._now())
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


# Config properties of the custom entry that discovery fills in (metadata name alongside).
_DISCOVERED = ("authorization_url", "token_url")


def _with_endpoints(config: Mapping[str, Any], metadata: ServerMetadata) -> dict[str, Any]:
    """``config`` with the endpoints it leaves out taken from the metadata."""
    found = {
        "authorization_url": metadata.authorization_endpoint,
        "token_url": metadata.token_endpoint,
        "revocation_url": metadata.revocation_endpoint,
    }
    return {**{k: v for k, v in found.items() if v}, **config}


def with_offline_access(client: OAuthClient, scopes: list[str]) -> list[str]:
    """``scopes`` plus ``offline_access`` when the client asks for a refresh token that way."""
    if client.offline_access and "offline_access" not in scopes:
        return [*scopes, "offline_access"]
    return scopes


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

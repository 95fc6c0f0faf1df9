"""The client credentials grant (RFC 6749 §4.4): the request of a catalog entry's
``oauth2_client_credentials`` mode for one connection. Pure: catalog entry, config and
credentials in; the client and the request's fields out.

The tenant brings its own client: the id from the credentials or the config (``client_id``),
the secret from the credentials (``client_secret``), authenticated per the entry's
``token_auth_method`` (§2.3.1) unless the config chooses (``token_auth_method``, the custom
entry). ``scope`` is the entry's ``default_scopes`` unless the config
names ``scopes`` (Microsoft Graph app-only asks for ``https://graph.microsoft.com/.default``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.catalog.templates import placeholders, render_template
from tether.catalog.token_grants import ClientCredentialsAuth
from tether.domain.errors import InvalidRequest
from tether.http.url_check import check_http_url
from tether.oauth.model import OAuthClient

__all__ = ["client_credentials_client", "client_credentials_fields", "configured_scopes"]

GRANT_TYPE = "client_credentials"


def configured_scopes(default: list[str], config: Mapping[str, Any]) -> list[str]:
    """``config.scopes`` when the entry lets the tenant choose them, else the catalog's."""
    chosen = config.get("scopes")
    if isinstance(chosen, list) and chosen:
        return [str(scope) for scope in chosen]
    return list(default)


def client_credentials_client(
    auth: ClientCredentialsAuth, config: Mapping[str, Any], credentials: Mapping[str, Any]
) -> OAuthClient:
    """The connection's own client, its endpoints rendered over the config."""
    client_id = credentials.get("client_id") or config.get("client_id")
    secret = credentials.get("client_secret")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidRequest(
            "credentials.client_id is required",
            code="MISSING_CREDENTIALS",
            details={"field": "credentials.client_id"},
        )
    if not isinstance(secret, str) or not secret:
        raise InvalidRequest(
            "credentials.client_secret is required",
            code="MISSING_CREDENTIALS",
            details={"field": "credentials.client_secret"},
        )
    revocation = None
    if auth.revocation_url is not None and _fills(auth.revocation_url, config):
        revocation = _endpoint(auth.revocation_url, config, "revocation_url")
    method = config.get("token_auth_method")
    if method not in ("client_secret_basic", "client_secret_post"):
        method = auth.token_auth_method
    return OAuthClient(
        client_id=client_id,
        client_secret=secret,
        authorization_url="",
        token_url=_endpoint(auth.token_url, config, "token_url"),
        revocation_url=revocation,
        token_auth_method=method,
        scope_separator=auth.scope_separator,
        pkce=False,
        default_token_lifetime_seconds=auth.default_token_lifetime_seconds,
    )


def client_credentials_fields(
    auth: ClientCredentialsAuth, config: Mapping[str, Any]
) -> dict[str, str]:
    """The token request's parameters (§4.4.2) besides client authentication."""
    fields = {"grant_type": GRANT_TYPE, **auth.extra_token_params}
    scopes = configured_scopes(auth.default_scopes, config)
    if scopes:
        fields["scope"] = auth.scope_separator.join(scopes)
    return fields


def _fills(template: str, config: Mapping[str, Any]) -> bool:
    """Whether ``config`` gives every value of ``template`` (an optional endpoint of a custom
    entry, such as its revocation URL, is left out by leaving its value out)."""
    return all(config.get(name) not in (None, "") for name in placeholders(template))


def _endpoint(template: str, config: Mapping[str, Any], field: str) -> str:
    return check_http_url(render_template(template, config), field=field)

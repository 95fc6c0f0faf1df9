"""Which :class:`~tether.http.model.RequestAuth` a connection's API calls carry.

:func:`auth_for` reads the catalog entry's auth mode and the connection's credentials:

========================== ================================================================
``api_key``                :class:`HeaderApiKey` (name, prefix) or :class:`QueryApiKey`
``bearer``                 :class:`BearerAuth` with the ``credential_field`` value
``basic``                  :class:`BasicAuth` with the username and password fields (an
                           empty password when the entry names no password field)
``oauth2``                 :class:`CallbackBearerAuth` over the ``oauth_token`` callables,
                           in the entry's ``token_header`` with its ``token_prefix``
``oauth2_client_credentials`` the same, in ``Authorization: Bearer``
``oauth2_jwt_bearer``      the same
``two_step``               the same, in the entry's ``token_header`` with its ``token_prefix``
``none``                   no auth, unless the entry's ``config_schema`` declares
                           ``auth_method`` (the generic REST and GraphQL connectors): then the
                           connection's config chooses, as below
========================== ================================================================

Generic connectors: ``config.auth_method`` is ``none``, ``bearer`` or ``oauth2`` (both send
``credentials.token`` as a bearer token: the connection holds the token itself), ``api_key``
(``credentials.api_key`` in the ``api_key_name`` header with ``api_key_prefix``, or in the query
string when ``api_key_in`` is ``query``) or ``basic`` (``credentials.username`` and
``credentials.password``). Missing config values take the schema's defaults.

A credential the mode needs but the payload lacks is :class:`~tether.domain.errors.InvalidRequest`
(code ``MISSING_CREDENTIALS``); an OAuth mode without token callables is :class:`AuthUnavailable`.
Messages name fields, never values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tether.catalog import schema as catalog
from tether.domain.errors import InvalidRequest, TetherError
from tether.http.auth import BasicAuth, BearerAuth, CallbackBearerAuth, HeaderApiKey, QueryApiKey
from tether.http.model import RequestAuth

__all__ = ["AuthUnavailable", "auth_for", "generic_auth_method"]

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_GENERIC_METHODS = frozenset({"none", "bearer", "oauth2", "api_key", "basic"})


class AuthUnavailable(TetherError):
    """The auth mode needs an access token and no token source was given (an OAuth
    connection that is not authorized yet, or a caller without the token lifecycle)."""

    default_code = "AUTH_UNAVAILABLE"
    default_status = 409


def generic_auth_method(provider: catalog.Provider, config: Mapping[str, Any]) -> str | None:
    """The connection-chosen auth method of a generic connector (``None`` for other entries)."""
    props = provider.config_schema.get("properties", {})
    if provider.auth.mode != "none" or "auth_method" not in props:
        return None
    method = config.get("auth_method", props["auth_method"].get("default", "none"))
    if method not in _GENERIC_METHODS:
        raise InvalidRequest(
            "config.auth_method is not one of the allowed values", code="INVALID_CONFIG"
        )
    return str(method)


def auth_for(
    provider: catalog.Provider,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    *,
    oauth_token: Callable[[], str] | None = None,
    oauth_refresh: Callable[[], str | None] | None = None,
) -> RequestAuth | None:
    """The auth of the connection's API calls; ``None`` when they carry none."""
    auth = provider.auth
    if isinstance(auth, catalog.ApiKeyAuth):
        value = _credential(credentials, auth.credential_field)
        if auth.location == "query":
            return QueryApiKey(auth.name, value)
        return HeaderApiKey(auth.name, value, prefix=auth.prefix)
    if isinstance(auth, catalog.BearerAuth):
        return BearerAuth(_credential(credentials, auth.credential_field))
    if isinstance(auth, catalog.BasicAuth):
        return BasicAuth(
            _credential(credentials, auth.username_field),
            ""
            if auth.password_field is None
            else _credential(credentials, auth.password_field, allow_empty=True),
            secret_username=auth.password_field is None,
        )
    if isinstance(auth, catalog.OAuth2Auth):
        return _callback(
            oauth_token, oauth_refresh, header=auth.token_header, prefix=auth.token_prefix
        )
    if isinstance(auth, catalog.ClientCredentialsAuth | catalog.JwtBearerAuth):
        return _callback(oauth_token, oauth_refresh, header="Authorization", prefix="Bearer ")
    if isinstance(auth, catalog.TwoStepAuth):
        return _callback(
            oauth_token, oauth_refresh, header=auth.token_header, prefix=auth.token_prefix
        )
    method = generic_auth_method(provider, config)
    if method is None or method == "none":
        return None
    return _generic(provider, method, config, credentials)


def _generic(
    provider: catalog.Provider,
    method: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
) -> RequestAuth:
    if method in ("bearer", "oauth2"):
        return BearerAuth(_credential(credentials, "token", method=method))
    if method == "basic":
        return BasicAuth(
            _credential(credentials, "username", method=method),
            _credential(credentials, "password", method=method, allow_empty=True),
        )
    # api_key
    value = _credential(credentials, "api_key", method=method)
    name = str(_config(provider, config, "api_key_name", "X-API-Key"))
    if not _HEADER_NAME.match(name):
        raise InvalidRequest(
            "config.api_key_name does not have the expected format", code="INVALID_CONFIG"
        )
    if _config(provider, config, "api_key_in", "header") == "query":
        return QueryApiKey(name, value)
    prefix = _config(provider, config, "api_key_prefix", "")
    if not isinstance(prefix, str) or any(c in prefix for c in "\r\n"):
        raise InvalidRequest(
            "config.api_key_prefix does not have the expected format", code="INVALID_CONFIG"
        )
    return HeaderApiKey(name, value, prefix=prefix)


def _config(provider: catalog.Provider, config: Mapping[str, Any], name: str, fallback: Any) -> Any:
    if name in config and config[name] is not None:
        return config[name]
    prop = provider.config_schema.get("properties", {}).get(name, {})
    return prop.get("default", fallback)


def _credential(
    credentials: Mapping[str, Any],
    field: str,
    *,
    method: str | None = None,
    allow_empty: bool = False,
) -> str:
    value = credentials.get(field)
    if not isinstance(value, str) or (not value and not allow_empty):
        when = f" when authentication is {method}" if method else ""
        raise InvalidRequest(
            f"credentials.{field} is required{when}",
            code="MISSING_CREDENTIALS",
            details={"field": f"credentials.{field}"},
        )
    return value


def _callback(
    oauth_token: Callable[[], str] | None,
    oauth_refresh: Callable[[], str | None] | None,
    *,
    header: str,
    prefix: str,
) -> RequestAuth:
    if oauth_token is None:
        raise AuthUnavailable("this connection needs an access token; authorize it first")
    return CallbackBearerAuth(
        oauth_token,
        oauth_refresh if oauth_refresh is not None else _no_refresh,
        header=header,
        token_prefix=prefix,
    )


def _no_refresh() -> str | None:
    return None

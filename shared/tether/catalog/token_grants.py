"""Catalog auth modes whose access token Tether obtains itself, from the connection's own
credentials, with no user at a consent screen and no refresh token.

* ``oauth2_client_credentials``: the client credentials grant (RFC 6749 §4.4): PayPal,
  Microsoft Graph app-only (scope ``https://graph.microsoft.com/.default``), many B2B APIs.
* ``oauth2_jwt_bearer``: the JWT bearer grant (RFC 7523 §2.1): a signed assertion made from a
  key the tenant uploads (a Google service account key file).
* ``two_step``: an API that is not OAuth but hands out a session token from a first call with
  a key or a username and password; the catalog declares that call, where the token and its
  lifetime are in the answer and how later calls carry it.

All three are re-issued when the token is due (expiry minus the margin) and once after a 401,
through the same lease and commit as an OAuth refresh (:mod:`tether.oauth.refresh`); none of
them assumes a refresh token (RFC 6749 §4.4.3: "A refresh token SHOULD NOT be included").
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.catalog.templates import check_url_template

__all__ = [
    "ISSUED_TOKEN_MODES",
    "ClientCredentialsAuth",
    "JwtBearerAuth",
    "SignOutCall",
    "TokenCall",
    "TwoStepAuth",
]


TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"  # RFC 9110 §5.1 token
_DOTTED = r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$"
_NAME = r"^[a-z_][a-z0-9_]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _url(value: str | None) -> str | None:
    """Checked by the entry (schema.py): https or a template opening with a placeholder."""
    if value is None:
        return None
    return check_url_template(value)


class _IssuedToken(_Model):
    """What every issued mode shares: when a token is due and how long an answer without
    ``expires_in`` lives (never "forever")."""

    default_token_lifetime_seconds: int = Field(gt=0)
    refresh_margin_seconds: int | None = Field(default=None, ge=0)


class ClientCredentialsAuth(_IssuedToken):
    """Client credentials grant (RFC 6749 §4.4); the tenant supplies its own client.

    The client id comes from the credentials or the config (``client_id``), the secret from
    the credentials (``client_secret``), sent per ``token_auth_method`` (§2.3.1).
    ``default_scopes`` are sent as ``scope`` (Microsoft Graph: ``…/.default``);
    ``extra_token_params`` are static token request parameters (an ``audience``).
    ``revocation_url``: RFC 7009, where the provider has it (deleting the connection revokes
    its current access token).
    """

    mode: Literal["oauth2_client_credentials"]
    token_url: str
    revocation_url: str | None = None
    default_scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    token_auth_method: TokenAuthMethod
    extra_token_params: dict[str, str] = Field(default_factory=dict)

    @field_validator("token_url", "revocation_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)

    @field_validator("extra_token_params")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted({"grant_type", "scope", "client_id", "client_secret"} & value.keys())
        if clash:
            raise ValueError(f"Tether sets these parameters itself: {', '.join(clash)}")
        return value


class JwtBearerAuth(_IssuedToken):
    """JWT bearer grant (RFC 7523 §2.1) from a service account key.

    ``key_field``: the credentials field holding the key file as JSON (Google's shape:
    ``client_email``, ``private_key`` PEM, ``private_key_id``; the private key never leaves
    Tether). The assertion: ``iss`` the key's ``client_email``, ``aud`` ``audience`` or else
    the token URL (§3), ``iat``/``exp`` at most ``assertion_lifetime_seconds`` apart (≤ one
    hour), ``sub`` the config property ``subject_config`` names when set (a user to act for,
    Google's domain-wide delegation), signed with ``algorithm`` and the key's id as ``kid``.
    ``scope_in``: ``request`` sends the scopes as the ``scope`` parameter (RFC 7521 §4.1);
    ``assertion`` puts them in a ``scope`` claim (Google). ``send_client_id``: the request
    also names the key's ``client_id`` (RFC 6749 §3.2.1, for servers that want a client
    identified).
    """

    mode: Literal["oauth2_jwt_bearer"]
    token_url: str
    audience: str | None = None
    revocation_url: str | None = None
    default_scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    scope_in: Literal["request", "assertion"] = "request"
    key_field: str = "service_account_key"
    subject_config: str | None = Field(default=None, pattern=_NAME)
    assertion_lifetime_seconds: int = Field(default=3600, gt=0, le=3600)
    algorithm: Literal["RS256", "ES256"] = "RS256"
    send_client_id: bool = False

    @field_validator("token_url", "audience", "revocation_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _url(value)


class TokenCall(_Model):
    """The first call of a ``two_step`` entry.

    ``url`` is a template over the config. The body is ``format`` (JSON or a form) built from
    ``static`` values, ``credentials`` (body parameter → credentials field) and ``config``
    (body parameter → config property); a dotted parameter (``credentials.name``) nests in a
    JSON body. ``basic``: send these two credentials fields as HTTP Basic instead.
    ``headers``: static headers of the call.
    """

    url: str
    method: Literal["POST", "GET"] = "POST"
    format: Literal["json", "form"] = "json"
    static: dict[str, str] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)
    config: dict[str, str] = Field(default_factory=dict)
    basic: tuple[str, str] | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _urls(cls, value: str) -> str:
        checked = _url(value)
        assert checked is not None
        return checked

    @field_validator("static", "credentials", "config")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if re.fullmatch(_DOTTED, name) is None)
        if bad:
            raise ValueError(f"not a parameter name or dotted path: {bad}")
        return value

    @model_validator(mode="after")
    def _secrets_in_the_body(self) -> Self:
        if self.method == "GET" and self.credentials:
            raise ValueError(
                "credentials never travel in a query string (URLs get logged): use a POST "
                "body or basic"
            )
        return self

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            if re.fullmatch(_HEADER_NAME, name) is None or any(c in header_value for c in "\r\n"):
                raise ValueError(f"header '{name}' must be a static, valid HTTP header")
        return value


class SignOutCall(_Model):
    """How a ``two_step`` session ends (Tableau's ``auth/signout``): ``url`` (a template over
    the config) called with ``method``, the token in the header API calls carry it in."""

    url: str
    method: Literal["POST", "DELETE"] = "POST"

    @field_validator("url")
    @classmethod
    def _urls(cls, value: str) -> str:
        checked = _url(value)
        assert checked is not None
        return checked


class TwoStepAuth(_IssuedToken):
    """A session token from a first call (``token_request``), then sent with every API call.

    ``token_path``: the dotted path of the token in the JSON answer; ``expires_in_path``
    (seconds from now) or ``expires_at_path`` (epoch seconds or an ISO 8601 time) its
    lifetime, else ``default_token_lifetime_seconds``. ``token_header``/``token_prefix``: how
    API calls carry it. The token is requested again when it is due and once after a 401.
    ``sign_out``: the call that ends the session, made when the connection is deleted.
    """

    mode: Literal["two_step"]
    token_request: TokenCall
    token_path: str = Field(default="access_token", pattern=_DOTTED)
    expires_in_path: str | None = Field(default=None, pattern=_DOTTED)
    expires_at_path: str | None = Field(default=None, pattern=_DOTTED)
    token_header: str = Field(default="Authorization", pattern=_HEADER_NAME)
    token_prefix: str = "Bearer "  # noqa: S105 - a header prefix, not a secret
    sign_out: SignOutCall | None = None

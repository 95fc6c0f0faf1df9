"""Pydantic models of one catalog entry (``providers/<domain>.yaml``), validated strictly.

Every model forbids unknown fields and is frozen. ``Provider.auth`` is a discriminated union on
``mode`` with eight variants: ``oauth2``, the three whose token Tether obtains from stored
credentials (``oauth2_client_credentials``, ``oauth2_jwt_bearer``, ``two_step``: see
:mod:`tether.catalog.token_grants`), ``api_key``, ``bearer``, ``basic`` and ``none``. A
provider's quirks are data here (extra authorize parameters, a JSON token request, values
copied from the callback into the config), never an ``if provider == ...`` elsewhere.

``credentials_schema`` and ``config_schema`` are JSON Schema draft 2020-12 object schemas from
which a frontend renders the setup form. Secret fields carry ``"writeOnly": true``; the config
never holds secrets. URL templates (:mod:`tether.catalog.templates`) may only name properties of
``config_schema``.

Size: the schema of one catalog entry; its auth variants and the cross-field checks belong
together.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tether.catalog.templates import (
    PLACEHOLDER,
    check_url_template,
    is_absolute_url,
    join_url,
    placeholders,
    render_template,
)
from tether.catalog.token_grants import (
    ISSUED_TOKEN_MODES,
    ClientCredentialsAuth,
    JwtBearerAuth,
    TwoStepAuth,
)

if TYPE_CHECKING:
    from tether.catalog.sync_definition import SyncDefinition

__all__ = [
    "AUTH_MODES",
    "CATEGORIES",
    "ISSUED_TOKEN_MODES",
    "REGIONS",
    "ApiKeyAuth",
    "Auth",
    "AuthMode",
    "BasicAuth",
    "BearerAuth",
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
    "RouteLookup",
    "TwoStepAuth",
    "WebhookHandshake",
    "WebhookScheme",
    "WebhookSpec",
]

Category = Literal[
    "accounting",
    "ai",
    "analytics",
    "calendar",
    "communication",
    "crm",
    "database",
    "developer",
    "ecommerce",
    "email",
    "generic",
    "hr",
    "marketing",
    "marketplace",
    "payments",
    "pos",
    "productivity",
    "storage",
    "support",
]
Region = Literal[
    "global", "us", "ca", "uk", "eu", "za", "ng", "gh", "ke", "au", "nz", "in", "jp", "sg"
]
AuthMode = Literal[
    "oauth2",
    "oauth2_client_credentials",
    "oauth2_jwt_bearer",
    "two_step",
    "api_key",
    "bearer",
    "basic",
    "none",
]
WebhookScheme = Literal[
    "stripe",
    "shopify",
    "slack",
    "github",
    "hubspot_v3",
    "square",
    "xero",
    "twilio",
    "standard_webhooks",
    "svix",
    "sendgrid",
    "hmac",
    "none",
]
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]

CATEGORIES: tuple[str, ...] = get_args(Category)
REGIONS: tuple[str, ...] = get_args(Region)
AUTH_MODES: tuple[str, ...] = get_args(AuthMode)

# Parameters Tether itself sets on an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).
_RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)
# A dotted JSON path (``data``, ``events.0.tenantId``) or ``header:<Name>``.
_FIELD_PATH = r"^(header:[A-Za-z0-9-]+|[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*)$"
_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"  # RFC 9110 §5.1 token
# Where a delivery's list of events is: ``$`` (the body itself) or a dotted path into it.
_BATCH_PATH = r"^(\$|[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*)$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


HttpsUrl = Annotated[str, Field(pattern=r"^https://\S+$")]
# An https URL, or http on loopback (a provider on this machine, like the ``demo`` entry).
_LOOPBACK_HTTP = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/\S*)?$")


def _check_issuer_template(value: str) -> str:
    """An issuer (RFC 9207): https, http on loopback, or a template opening with a
    placeholder (checked again once rendered)."""
    if _LOOPBACK_HTTP.match(value):
        return value
    return check_url_template(value)


class RouteLookup(_Model):
    """A call after the code exchange, with the new access token, that names the accounts the
    grant reaches (Xero's ``GET /connections``, a GitHub App user's ``GET
    /user/installations``, HubSpot's token metadata); the connection's ``webhook_route`` is the
    value of one of them.

    ``url``: a fixed https URL, or a path on the host of the entry's fixed ``api_base_url``
    (the new access token is sent there, so no config may move it); ``{access_token}`` in its
    path stands for the new token, URL-encoded (HubSpot's ``GET
    /oauth/v1/access-tokens/{token}``; the token is registered for log redaction first).
    ``items_path``: where the list is in the JSON answer (``$``: the answer is the list);
    ``one_account``: the answer is instead the one account the token belongs to (an object);
    ``value_path``: the route value in one item. Which one: the config property
    ``config_property`` when the tenant set it, else the callback query parameter
    ``callback_param`` when the provider sent one, else the only one the grant reaches; a
    choice that is not in the list is refused (no route). The list comes from the provider for
    this very token, so a tenant cannot claim another's account by naming it. The value learned
    is also written to ``config_property`` when it was unset.
    """

    url: str
    items_path: str = Field(default="$", pattern=_BATCH_PATH)
    one_account: bool = False
    value_path: str = Field(pattern=_FIELD_PATH)
    config_property: str | None = None
    callback_param: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @field_validator("url")
    @classmethod
    def _fixed_url(cls, value: str) -> str:
        path, _, query = value.partition("?")
        origin = _HTTPS_ORIGIN.match(path)
        path = path[origin.end() :] if origin else path
        fixed = path.replace(ACCESS_TOKEN_PLACEHOLDER, "t", 1)
        if not _LOOKUP_PATH.match(fixed) or not _LOOKUP_QUERY.match(query):
            raise ValueError("a fixed https URL or a path; only {access_token} in its path")
        return value

    @model_validator(mode="after")
    def _one_account_is_the_answer(self) -> Self:
        if self.one_account and self.items_path != "$":
            raise ValueError("one_account: the answer is the account (items_path '$')")
        return self


#: Stands for the new access token in a :class:`RouteLookup` URL's path.
ACCESS_TOKEN_PLACEHOLDER = "{access_token}"  # noqa: S105 - a placeholder, not a secret
_HTTPS_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(?=/|$)")
_LOOKUP_PATH = re.compile(r"^/[^\s{}?#]*$")
_LOOKUP_QUERY = re.compile(r"^[^\s{}#]*$")


class OAuth2Auth(_Model):
    """Authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636) unless ``pkce`` is off.

    URLs may be templates over the config. ``default_token_lifetime_seconds`` applies when a
    token response has no ``expires_in``; ``refresh_margin_seconds`` refreshes that long before
    expiry (``None``: Tether's default). ``refresh_token_rotates``: a refresh may return a new
    refresh token that replaces the old one. ``keep_alive_days``: the provider revokes a refresh
    token left unused this long, so Tether refreshes before then. ``token_request_format``:
    ``json`` where the provider documents a JSON token request instead of RFC 6749's form.
    ``token_header``/``token_prefix``: how API calls carry the access token.
    ``callback_code_param``: the callback query parameter holding the code.
    ``issuer``: the issuer identifier the provider names in the ``iss`` parameter of its
    authorization responses (RFC 9207). Set it only for providers that send ``iss``: with an
    issuer, a callback carrying another ``iss`` or none is refused (§2.4). https, or http on
    loopback for a local provider; it may be a template over the config (``{base_url}``).
    ``config_from_callback`` / ``config_from_token_response``: callback query parameters and
    token-response fields copied into the connection config (parameter -> config property).
    ``webhook_route_from``: where the provider proves the account id its app-level webhooks
    name (the webhook's ``route_field``), stored as the connection's ``webhook_route``:
    ``token:<dotted path>`` into the token response of the code exchange (Slack
    ``token:team.id``), or ``token_host``: the host of the token endpoint the code was
    redeemed at (Shopify's ``<shop>.myshopify.com``), or ``post_connect``: the account chosen
    among those the ``post_connect`` lookup lists (:class:`RouteLookup`: Xero's tenants, a
    GitHub App's installations). Never a callback query parameter alone: the browser carries
    those, so a tenant could change them. Unset: app-level events of the provider stay
    unroutable.
    ``offline_access``: an OpenID Connect provider that issues a refresh token only for the
    ``offline_access`` scope asked with ``prompt=consent`` (OpenID Connect Core §11): every
    authorization request of the entry adds both.
    ``discovery``: endpoints the config leaves out come from the issuer's metadata (RFC 8414,
    OpenID Connect Discovery), and so do PKCE support, the revocation endpoint and whether
    authorization responses carry ``iss`` (:mod:`tether.oauth.discovery`); the issuer is then
    part of the connection's destination.
    """

    mode: Literal["oauth2"]
    authorization_url: str
    token_url: str
    revocation_url: str | None = None
    default_scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    pkce: bool = True
    token_auth_method: TokenAuthMethod
    token_request_format: Literal["form", "json"] = "form"  # noqa: S105 - not a secret
    extra_authorize_params: dict[str, str] = Field(default_factory=dict)
    default_token_lifetime_seconds: int = Field(gt=0)
    refresh_margin_seconds: int | None = Field(default=None, ge=0)
    issuer: str | None = None
    refresh_token_rotates: bool = False
    keep_alive_days: int | None = Field(default=None, gt=0)
    token_header: str = Field(default="Authorization", pattern=_HEADER_NAME)
    token_prefix: str = "Bearer "  # noqa: S105 - a header prefix, not a secret
    callback_code_param: str = "code"
    config_from_callback: dict[str, str] = Field(default_factory=dict)
    config_from_token_response: dict[str, str] = Field(default_factory=dict)
    webhook_route_from: str | None = Field(
        default=None,
        pattern=r"^(token_host|post_connect|token:[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*)$",
    )
    offline_access: bool = False
    discovery: bool = False
    post_connect: RouteLookup | None = None

    @field_validator("authorization_url", "token_url", "revocation_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else check_url_template(value)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        return None if value is None else _check_issuer_template(value)

    @field_validator("extra_authorize_params")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(_RESERVED_AUTHORIZE_PARAMS & value.keys())
        if clash:
            raise ValueError(f"Tether sets these parameters itself: {', '.join(clash)}")
        return value


class ApiKeyAuth(_Model):
    mode: Literal["api_key"]
    location: Literal["header", "query"]
    name: str = Field(pattern=_HEADER_NAME)
    prefix: str = ""
    credential_field: str = "api_key"


class BearerAuth(_Model):
    mode: Literal["bearer"]
    credential_field: str = "token"


class BasicAuth(_Model):
    """HTTP basic authentication (RFC 7617). ``password_field: null``: the API takes a key as
    the user name and an empty password (Freshdesk, Chargebee, Greenhouse...)."""

    mode: Literal["basic"]
    username_field: str = "username"
    password_field: str | None = "password"  # noqa: S105 - a field name, not a secret


class NoAuth(_Model):
    mode: Literal["none"]


Auth = Annotated[
    OAuth2Auth
    | ClientCredentialsAuth
    | JwtBearerAuth
    | TwoStepAuth
    | ApiKeyAuth
    | BearerAuth
    | BasicAuth
    | NoAuth,
    Field(discriminator="mode"),
]


class ProbeRequest(_Model):
    """The cheapest authenticated call that proves a connection works.

    ``path`` is appended to ``api_base_url`` unless it is absolute. ``records_path`` points at
    sample records in the JSON response (``None``: the body itself when it is a list).
    ``ok_path`` must be truthy in the response for success (Slack answers 200 with
    ``"ok": false``; GraphQL answers 200 with errors).
    """

    method: Literal["GET", "POST"] = "GET"
    path: str
    expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
    records_path: str | None = Field(default=None, pattern=_FIELD_PATH)
    ok_path: str | None = Field(default=None, pattern=_FIELD_PATH)
    body: dict[str, Any] | None = None
    description: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _path_shape(cls, value: str) -> str:
        if value == "" or value.startswith(("/", "?")):
            rest = PLACEHOLDER.sub("x", value)
            if "{" in rest or "}" in rest:
                raise ValueError("braces are only allowed around a lowercase placeholder name")
            return value
        return check_url_template(value)


class WebhookHandshake(_Model):
    """A verified delivery that asks the receiver to prove it owns the URL instead of carrying
    an event (Slack's ``url_verification``): when the payload's ``type_path`` holds
    ``type_value``, the answer echoes the payload's ``echo_path`` and nothing is stored."""

    type_path: str = Field(pattern=_FIELD_PATH)
    type_value: str = Field(min_length=1)
    echo_path: str = Field(pattern=_FIELD_PATH)


class WebhookSpec(_Model):
    """How the provider signs and identifies webhook deliveries.

    Paths are dotted JSON paths into the payload (a numeric segment indexes a list) or
    ``header:<Name>``. ``route_field`` identifies the account on app-level webhook URLs;
    ``secret_field`` names the credentials field holding the signing secret (``None``: an
    app-level secret from Tether's configuration).

    ``batch_path``: the list of events of a delivery that carries several (Xero's ``events``;
    ``$``: the body is the list, as HubSpot sends it). Each item becomes an event of its own,
    routed, deduplicated and delivered on its own; the payload paths (``event_id_path``,
    ``event_type_path``, ``route_field``) are then read from each item, ``header:`` paths from
    the delivery. ``handshake``: see :class:`WebhookHandshake`.

    ``options``: the scheme's settings, for a scheme that has them: the ``hmac`` scheme's
    ``header``, ``algorithm``, ``encoding``, ``prefix``, ``separator`` and ``event_id_header``
    (:class:`tether.webhooks.schemes.body_hmac.HmacScheme`); ``tether catalog check`` builds
    every entry's scheme with them.
    """

    scheme: WebhookScheme
    options: dict[str, str] = Field(default_factory=dict)
    event_id_path: str | None = Field(default=None, pattern=_FIELD_PATH)
    event_type_path: str | None = Field(default=None, pattern=_FIELD_PATH)
    route_field: str | None = Field(default=None, pattern=_FIELD_PATH)
    secret_field: str | None = None
    batch_path: str | None = Field(default=None, pattern=_BATCH_PATH)
    handshake: WebhookHandshake | None = None

    @model_validator(mode="after")
    def _one_id_per_item(self) -> Self:
        """A batch's items each need their own id: one header names one delivery."""
        if self.batch_path is not None and (self.event_id_path or "").startswith("header:"):
            raise ValueError("a batch's event_id_path is read from each item, not a header")
        return self


class RateLimit(_Model):
    requests_per_minute: int = Field(gt=0)
    burst: int = Field(gt=0)


class RateLimitHeaders(_Model):
    """The response headers in which the provider announces its own rate limit.

    When ``remaining`` reaches 0, the outbound client waits until ``reset`` (epoch seconds,
    epoch milliseconds or seconds to wait: :func:`tether.http.provider_limits.reset_delay`)
    before it sends to that connection again. ``limit`` is informational.
    """

    limit: str | None = Field(default=None, pattern=_HEADER_NAME)
    remaining: str = Field(pattern=_HEADER_NAME)
    reset: str | None = Field(default=None, pattern=_HEADER_NAME)

    def names(self) -> dict[str, str]:
        """``{"remaining": ..., "reset": ...}`` as the outbound client reads them."""
        found = {"remaining": self.remaining, "reset": self.reset, "limit": self.limit}
        return {role: name for role, name in found.items() if name is not None}


def _empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


@functools.cache
def _draft_2020_12() -> Any:
    # Imported on first use: the packaged catalog is loaded without it (see loader.py).
    from jsonschema import Draft202012Validator

    return Draft202012Validator


def _check_meta_schema(schema: dict[str, Any], label: str) -> None:
    """``Draft202012Validator.check_schema``: the schema is valid JSON Schema 2020-12."""
    from jsonschema.exceptions import SchemaError

    try:
        _draft_2020_12().check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"{label} is not valid JSON Schema 2020-12: {exc.message}") from None


def _check_form_schema(schema: dict[str, Any], label: str) -> None:
    """A closed object whose properties all have a title and a description (form labels)."""
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise ValueError(f'{label} must be "type": "object" with "additionalProperties": false')
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        raise ValueError(f"{label} must have properties")
    required = schema.get("required", [])
    missing = [name for name in required if name not in properties]
    if missing:
        raise ValueError(f"{label} requires undefined properties: {', '.join(missing)}")
    for name, prop in properties.items():
        if not isinstance(prop, dict) or not prop.get("title") or not prop.get("description"):
            raise ValueError(f"{label} property '{name}' needs a title and a description")


class Provider(_Model):
    """One catalog entry.

    Validation checks the entry as a whole: both JSON schemas (meta-schema check skipped only
    with the validation context ``{"check_json_schema": False}``), the syncs (deferred to
    their first use with ``{"check_syncs": False}``), every URL placeholder
    against ``config_schema``, the credentials fields the auth mode names, and the config
    properties OAuth2 values are copied into. ``headers`` are static headers sent with every
    API call (API version pins such as ``Notion-Version``), not with OAuth token requests.
    ``config_headers``: headers whose value is a property of the connection's config (header
    name -> config property), sent with every API call once the property is set (Xero's
    ``Xero-tenant-id``: the organisation chosen or learned at connect); see
    :meth:`headers_for`.
    ``destination_config``: see :mod:`tether.catalog.destination`.
    """

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    regions: list[Region] = Field(min_length=1)
    docs_url: HttpsUrl
    api_base_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    config_headers: dict[str, str] = Field(default_factory=dict)
    auth: Auth
    credentials_schema: dict[str, Any] = Field(default_factory=_empty_object_schema)
    config_schema: dict[str, Any] = Field(default_factory=_empty_object_schema)
    test: ProbeRequest | None = None
    webhook: WebhookSpec | None = None
    rate_limit: RateLimit | None = None
    rate_limit_headers: RateLimitHeaders | None = None
    # Config properties that locate the server of a provider that is not HTTP (a database's
    # host and port): part of the connection's destination (tether.catalog.destination).
    destination_config: list[str] = Field(default_factory=list)
    # Catalog syncs by name, as written: see sync_definitions().
    syncs: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url_template(value)

    @field_validator("headers")
    @classmethod
    def _static_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            bad_value = any(c in header_value for c in "\r\n{}")
            if re.fullmatch(_HEADER_NAME, name) is None or bad_value:
                raise ValueError(f"header '{name}' must be a static, valid HTTP header")
        return value

    @field_validator("config_headers")
    @classmethod
    def _config_header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if re.fullmatch(_HEADER_NAME, name) is None:
                raise ValueError(f"config_headers: '{name}' is not a valid HTTP header name")
        return value

    @property
    def auth_mode(self) -> AuthMode:
        return self.auth.mode

    def headers_for(self, config: Mapping[str, Any]) -> dict[str, str]:
        """The headers every API call of a connection with ``config`` carries: the static
        ``headers``, then each of ``config_headers`` whose property ``config`` sets to a
        non-empty string or a number (a value with a line break or a NUL is left out:
        it cannot be a header value)."""
        found = dict(self.headers)
        for name, prop in self.config_headers.items():
            value = config.get(prop)
            if isinstance(value, bool) or not isinstance(value, str | int):
                continue
            text = str(value).strip()
            if text and not any(c in text for c in "\r\n\x00"):
                found[name] = text
        return found

    @property
    def secret_fields(self) -> tuple[str, ...]:
        """Credentials fields marked ``writeOnly``: never shown, logged or returned."""
        props: dict[str, Any] = self.credentials_schema.get("properties", {})
        return tuple(name for name, prop in props.items() if prop.get("writeOnly") is True)

    @property
    def url_templates(self) -> dict[str, str]:
        """Every templated URL of the entry by its dotted field name."""
        found = {"api_base_url": self.api_base_url}
        for name in ("authorization_url", "token_url", "revocation_url", "issuer", "audience"):
            found[f"auth.{name}"] = getattr(self.auth, name, None)
        if isinstance(self.auth, TwoStepAuth):
            found["auth.token_request.url"] = self.auth.token_request.url
            if self.auth.sign_out is not None:
                found["auth.sign_out.url"] = self.auth.sign_out.url
        if self.test is not None:
            found["test.path"] = self.test.path
        return {name: value for name, value in found.items() if value is not None}

    @functools.cached_property
    def validated_syncs(self) -> dict[str, SyncDefinition]:
        """``syncs`` as :class:`~tether.catalog.sync_definition.SyncDefinition` objects, built on
        first use: the sync models cost ~15 ms to build, which no function that does not sync
        should pay at a cold start (see the loader on the packaged catalog). A broken sync
        raises :class:`ValueError` naming ``syncs.<name>.<field>``."""
        from tether.catalog.sync_definition import validate_syncs

        return validate_syncs(self.syncs)

    def render_api_base_url(self, config: Mapping[str, Any]) -> str | None:
        """``api_base_url`` rendered with ``config``; ``None`` when the entry has none."""
        if self.api_base_url is None:
            return None
        return render_template(self.api_base_url, config)

    def config_with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` plus the ``default`` of each top-level config property it leaves out."""
        filled = dict(config)
        for name, prop in (self.config_schema.get("properties") or {}).items():
            if name not in filled and isinstance(prop, Mapping) and "default" in prop:
                filled[name] = prop["default"]
        return filled

    def render_test_url(self, config: Mapping[str, Any]) -> str | None:
        """The absolute URL of the test request; ``None`` when the entry has no test."""
        if self.test is None:
            return None
        path = render_template(self.test.path, config)
        if is_absolute_url(path):
            return path
        return join_url(self.render_api_base_url(config), path)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Self:
        context = info.context if isinstance(info.context, dict) else {}
        for label in ("credentials_schema", "config_schema"):
            schema = getattr(self, label)
            if context.get("check_json_schema", True):
                _check_meta_schema(schema, label)
            _check_form_schema(schema, label)
        config_props: dict[str, Any] = self.config_schema.get("properties", {})
        credential_props: dict[str, Any] = self.credentials_schema.get("properties", {})
        for where, template in self.url_templates.items():
            names = placeholders(template)
            unknown = [name for name in names if name not in config_props]
            if unknown:
                raise ValueError(f"{where} names undefined config properties: {unknown}")
            leading = PLACEHOLDER.match(template)
            if leading and not {"pattern", "enum"} & config_props[leading.group(1)].keys():
                raise ValueError(
                    f"{where} opens with {{{leading.group(1)}}}, so that config property "
                    "needs a pattern or an enum"
                )
        test_path = self.test.path if self.test is not None else None
        if test_path is not None and self.api_base_url is None:
            absolute = is_absolute_url(test_path) or PLACEHOLDER.match(test_path)
            if not absolute:
                raise ValueError("test.path is relative but api_base_url is null")
        for field in self._credential_fields():
            if field not in credential_props:
                raise ValueError(f"auth names credentials field '{field}' not in the schema")
        if self.auth.mode == "oauth2_client_credentials" and not (
            "client_id" in credential_props or "client_id" in config_props
        ):
            raise ValueError("client credentials need a client_id in credentials or config")
        if isinstance(self.auth, JwtBearerAuth):
            subject = self.auth.subject_config
            if subject is not None and subject not in config_props:
                raise ValueError(f"auth.subject_config '{subject}' is not a config property")
            if self.auth.key_field not in self.secret_fields:
                raise ValueError(f"auth.key_field '{self.auth.key_field}' must be writeOnly")
        if isinstance(self.auth, TwoStepAuth):
            call = self.auth.token_request
            wanted = [*call.credentials.values(), *(call.basic or ())]
            unknown = [name for name in wanted if name not in credential_props]
            if unknown:
                raise ValueError(f"auth.token_request names undefined credentials {unknown}")
            unknown = [name for name in call.config.values() if name not in config_props]
            if unknown:
                raise ValueError(f"auth.token_request names undefined config {unknown}")
        if isinstance(self.auth, OAuth2Auth):
            targets = {**self.auth.config_from_callback, **self.auth.config_from_token_response}
            for target in targets.values():
                if target not in config_props:
                    raise ValueError(f"auth copies a value into undefined config '{target}'")
            route_field = self.webhook.route_field if self.webhook else None
            if self.auth.webhook_route_from is not None and route_field is None:
                raise ValueError("auth.webhook_route_from needs a webhook with a route_field")
            self._check_post_connect(self.auth, config_props, self.api_base_url)
        unknown_headers = [p for p in self.config_headers.values() if p not in config_props]
        if unknown_headers:
            raise ValueError(f"config_headers names undefined config {unknown_headers}")
        clash = {n.lower() for n in self.headers} & {n.lower() for n in self.config_headers}
        if clash:
            raise ValueError(f"headers and config_headers both set {sorted(clash)}")
        unknown_destination = [n for n in self.destination_config if n not in config_props]
        if unknown_destination:
            raise ValueError(f"destination_config names undefined config {unknown_destination}")
        secret = self.webhook.secret_field if self.webhook else None
        if secret is not None and secret not in credential_props:
            raise ValueError(f"webhook.secret_field '{secret}' is not a credentials property")
        if self.syncs and context.get("check_syncs", True):
            from tether.catalog.sync_definition import check_sync_templates

            check_sync_templates(
                self.validated_syncs,
                config_properties=config_props,
                has_base_url=self.api_base_url is not None,
            )
        writeonly_config = [n for n, p in config_props.items() if p.get("writeOnly")]
        if writeonly_config:
            raise ValueError(f"config holds no secrets; move {writeonly_config} to credentials")
        return self

    @staticmethod
    def _check_post_connect(
        auth: OAuth2Auth, config_props: Mapping[str, Any], api_base_url: str | None
    ) -> None:
        lookup = auth.post_connect
        if (auth.webhook_route_from == "post_connect") != (lookup is not None):
            raise ValueError("auth.post_connect and webhook_route_from: post_connect go together")
        if lookup is None:
            return
        api = api_base_url or ""
        if lookup.url.startswith("/") and ("{" in api or not _HTTPS_ORIGIN.match(api)):
            raise ValueError("auth.post_connect names a path: the api_base_url must be fixed https")
        if lookup.config_property is not None and lookup.config_property not in config_props:
            raise ValueError(f"auth.post_connect names undefined config '{lookup.config_property}'")

    def _credential_fields(self) -> list[str]:
        auth = self.auth
        if isinstance(auth, ApiKeyAuth | BearerAuth):
            return [auth.credential_field]
        if isinstance(auth, BasicAuth):
            return [auth.username_field, *([auth.password_field] if auth.password_field else [])]
        if isinstance(auth, ClientCredentialsAuth):
            return ["client_secret"]
        if isinstance(auth, JwtBearerAuth):
            return [auth.key_field]
        return []

"""The JWT bearer grant (RFC 7523 §2.1) from a service account key: the assertion and the
token request of a catalog entry's ``oauth2_jwt_bearer`` mode.

The key is the credentials field the entry names, a JSON key file in Google's shape
(``client_email``, ``private_key`` as PEM, ``private_key_id``, optionally ``client_id``). The
private key is a secret like any credential: it is registered for redaction as soon as it is
read and never appears in a message (a key that does not parse is named, never shown).

The assertion (RFC 7523 §3): ``iss`` the key's ``client_email``; ``aud`` the entry's
``audience`` or else the token endpoint's URL; ``sub`` the config property the entry names
(a user to act for) when it has a value; ``iat`` now and ``exp`` at most an hour later (the
entry's ``assertion_lifetime_seconds``); a fresh ``jti``; ``scope`` as a claim where the
provider reads it there (Google), else as a request parameter. Signed with PyJWT (RS256 or
ES256 over ``cryptography``), imported on first use: a function that never signs one does not
load it at its cold start.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tether.catalog.templates import placeholders, render_template
from tether.catalog.token_grants import JwtBearerAuth
from tether.http.url_check import check_http_url
from tether.logs import register_secret
from tether.oauth.client_credentials import configured_scopes
from tether.oauth.model import OAuthClient, TokenEndpointError

__all__ = ["GRANT_TYPE", "ServiceAccountKey", "jwt_bearer_request", "parse_key"]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_KEY_BYTES = 16 * 1024


@dataclass(frozen=True)
class ServiceAccountKey:
    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    client_id: str | None = None


def _unusable(why: str) -> TokenEndpointError:
    # Not the provider's answer, but the same verdict: these credentials cannot get a token.
    return TokenEndpointError(
        f"the service account key {why}", error="invalid_key", retryable=False
    )


def parse_key(value: Any) -> ServiceAccountKey:
    """The key file (a JSON text or an already parsed object); :class:`TokenEndpointError`
    ``invalid_key`` when it is not a usable key."""
    if isinstance(value, str):
        if len(value) > _MAX_KEY_BYTES:
            raise _unusable("is too large")
        register_secret(value)
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise _unusable("is not JSON") from None
    if not isinstance(value, Mapping):
        raise _unusable("is not a JSON object")
    private_key = value.get("private_key")
    client_email = value.get("client_email")
    if not isinstance(private_key, str) or "PRIVATE KEY" not in private_key:
        raise _unusable("has no private_key in PEM form")
    register_secret(private_key)
    if not isinstance(client_email, str) or not client_email:
        raise _unusable("has no client_email")
    key_id, client_id = value.get("private_key_id"), value.get("client_id")
    return ServiceAccountKey(
        client_email=client_email,
        private_key=private_key,
        private_key_id=key_id if isinstance(key_id, str) and key_id else None,
        client_id=client_id if isinstance(client_id, str) and client_id else None,
    )


def jwt_bearer_request(
    auth: JwtBearerAuth,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    *,
    now: datetime,
) -> tuple[OAuthClient, dict[str, str]]:
    """The client (no client authentication: the assertion is the proof) and the token
    request's fields, with a freshly signed assertion."""
    key = parse_key(credentials.get(auth.key_field))
    token_url = check_http_url(render_template(auth.token_url, config), field="token_url")
    audience = token_url
    if auth.audience is not None:
        audience = check_http_url(render_template(auth.audience, config), field="audience")
    revocation = None
    if auth.revocation_url is not None and all(
        config.get(name) not in (None, "") for name in placeholders(auth.revocation_url)
    ):
        revocation = check_http_url(
            render_template(auth.revocation_url, config), field="revocation_url"
        )
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": key.client_email,
        "aud": audience,
        "iat": issued,
        "exp": issued + auth.assertion_lifetime_seconds,
        "jti": secrets.token_urlsafe(16),
    }
    subject = config.get(auth.subject_config) if auth.subject_config else None
    if isinstance(subject, str) and subject:
        claims["sub"] = subject
    scopes = configured_scopes(auth.default_scopes, config)
    fields = {"grant_type": GRANT_TYPE}
    if scopes and auth.scope_in == "assertion":
        claims["scope"] = auth.scope_separator.join(scopes)
    elif scopes:
        fields["scope"] = auth.scope_separator.join(scopes)
    fields["assertion"] = _sign(claims, key, auth.algorithm)
    send_client_id = auth.send_client_id and key.client_id is not None
    client = OAuthClient(
        client_id=key.client_id if send_client_id and key.client_id else "",
        client_secret=None,
        authorization_url="",
        token_url=token_url,
        revocation_url=revocation,
        token_auth_method="client_secret_post" if send_client_id else "none",
        scope_separator=auth.scope_separator,
        pkce=False,
        default_token_lifetime_seconds=auth.default_token_lifetime_seconds,
    )
    return client, fields


def _sign(claims: Mapping[str, Any], key: ServiceAccountKey, algorithm: str) -> str:
    import jwt  # PyJWT, on first use (cold start)

    headers = {"kid": key.private_key_id} if key.private_key_id else None
    try:
        assertion = jwt.encode(dict(claims), key.private_key, algorithm=algorithm, headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError):
        # cryptography's message may quote the key material: none of it is passed on.
        raise _unusable(f"cannot sign {algorithm} assertions") from None
    register_secret(assertion)
    return assertion

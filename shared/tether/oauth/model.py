"""The shapes the OAuth pieces share: a provider client resolved for one connection, a token
set, the typed failure of a token endpoint and the reason codes audit entries carry of it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from tether.domain.errors import TetherError

__all__ = ["SYSTEM_ACTOR", "OAuthClient", "TokenEndpointError", "TokenSet", "reason_code"]

# The actor of audit entries the token services write on their own (no user asked).
SYSTEM_ACTOR = "system:token-lifecycle"
_SAFE_REASON = re.compile(r"^[a-z0-9_]{1,64}$")

# ``none``: no client authentication at all (the JWT bearer grant's assertion is the proof).
TokenAuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]


@dataclass(frozen=True)
class OAuthClient:
    """Everything needed to talk to one provider for one connection: URL templates already
    rendered over the connection's config, client id and secret already resolved (from
    Tether's configuration for catalog providers, from the connection for custom ones)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    authorization_url: str
    token_url: str
    revocation_url: str | None = None
    token_auth_method: TokenAuthMethod = "client_secret_basic"  # noqa: S105 - a method name
    token_request_format: Literal["form", "json"] = "form"  # noqa: S105 - a format name
    scope_separator: str = " "
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    pkce: bool = True
    issuer: str | None = None
    # RFC 9207 §2.4: with an issuer, a response without `iss` is refused unless this is off
    # (discovered metadata that says the server does not send one).
    issuer_required: bool = True
    # Ask for `offline_access` (with `prompt=consent`) to get a refresh token (OIDC Core §11).
    offline_access: bool = False
    default_token_lifetime_seconds: int = 3600


@dataclass(frozen=True)
class TokenSet:
    """A parsed token response. ``expires_at`` is never missing: without ``expires_in`` the
    provider's default lifetime applies ("never expires" is not an answer Tether accepts).
    ``extra`` holds the other top-level fields of the response except secrets (``id_token``
    and anything named like a token are dropped)."""

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] | None = None
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    extra: Mapping[str, Any] = field(default_factory=dict)


class TokenEndpointError(TetherError):
    """A token, refresh or revocation request failed.

    ``error`` is the OAuth error code the provider answered (``invalid_grant``,
    ``invalid_client``, ``temporarily_unavailable``…) or a transport reason (``network``,
    ``timeout``, ``server_error`` for 5xx, ``rate_limited`` for 429, ``bad_response`` for an
    unparseable answer, ``invalid_url`` for an endpoint address the HTTP client cannot
    parse). ``retryable`` is true for network errors, timeouts, 5xx, 429 and
    ``temporarily_unavailable``; ``invalid_grant`` means the grant is gone for good (the user
    must reconnect). Messages never contain tokens, codes or secrets.
    """

    default_status: ClassVar[int] = 502

    def __init__(
        self,
        message: str,
        *,
        error: str,
        retryable: bool,
        provider_status: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, code=f"OAUTH_{error.upper()}", retryable=retryable)
        self.error = error
        self.provider_status = provider_status
        self.retry_after_seconds = retry_after_seconds


def reason_code(value: str) -> str:
    """``value`` (a provider's OAuth error code, a lower-cased Tether code) as audit entries
    and error details may carry it: a short snake-case word, else ``provider_error``."""
    return value if _SAFE_REASON.match(value) else "provider_error"

"""Who may call the ``tasks`` function.

* ``oidc`` (cloud): Cloud Tasks and Cloud Scheduler send a Google-signed OIDC ID token for the
  configured service account. Checked: RS256 signature against Google's keys (PyJWT's
  ``PyJWKClient``, cached), issuer ``https://accounts.google.com``, the configured audience,
  expiry, ``email`` equal to the service account and ``email_verified``.
* ``token`` (``tether dev``): a shared random task token, compared in constant time.

Either way the caller is infrastructure, not a tenant: task payloads name their tenant.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import jwt

from tether.api.auth import bearer_token
from tether.domain.errors import ConfigurationError, Forbidden, Unauthenticated

if TYPE_CHECKING:
    from tether.config import Settings

__all__ = [
    "GOOGLE_ISSUERS",
    "OidcTaskCallerVerifier",
    "TaskCallerVerifier",
    "TaskTokenVerifier",
    "task_caller_verifier_for",
]

GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_LEEWAY_SECONDS = 30


class TaskCallerVerifier(Protocol):
    def verify(self, authorization: str | None) -> str:
        """The caller's identity, or :class:`Unauthenticated` / :class:`Forbidden`."""
        ...


class OidcTaskCallerVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        audience: str,
        service_account: str,
        issuers: tuple[str, ...] = GOOGLE_ISSUERS,
        timeout_seconds: float = 5.0,
    ) -> None:
        if not audience or not service_account:
            raise ConfigurationError(
                "the tasks function needs TETHER_TASKS_SERVICE_ACCOUNT and TETHER_TASKS_AUDIENCE "
                "(or TETHER_TASKS_URL) to verify its callers"
            )
        self._client = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=3600, timeout=int(timeout_seconds)
        )
        self._audience = audience
        self._service_account = service_account.lower()
        self._issuers = issuers

    def verify(self, authorization: str | None) -> str:
        token = bearer_token(authorization)
        try:
            key = self._client.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._audience,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "email"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise Unauthenticated(
                "the OIDC signing keys could not be fetched", code="JWKS_UNAVAILABLE"
            ) from None
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the task token has expired", code="TOKEN_EXPIRED") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(
                f"the task token is not valid ({type(exc).__name__})", code="INVALID_TOKEN"
            ) from None
        if claims.get("iss") not in self._issuers:
            raise Unauthenticated("the task token has the wrong issuer", code="INVALID_TOKEN")
        email = claims.get("email")
        if (
            not isinstance(email, str)
            or email.lower() != self._service_account
            or claims.get("email_verified") is not True
        ):
            raise Forbidden("this caller may not run tasks", code="TASK_CALLER_FORBIDDEN")
        return email


class TaskTokenVerifier:
    def __init__(self, token: str) -> None:
        if len(token) < 32:
            raise ConfigurationError("TETHER_TASK_TOKEN must be at least 32 characters")
        self._token = token.encode()

    def verify(self, authorization: str | None) -> str:
        token = bearer_token(authorization)
        if not hmac.compare_digest(token.encode(), self._token):
            raise Unauthenticated("the task token is not valid", code="INVALID_TOKEN")
        return "task-token"


def task_caller_verifier_for(
    settings: Settings, *, task_token: Callable[[], str]
) -> TaskCallerVerifier:
    """The check ``TETHER_TASKS_AUTH`` names. ``task_token``: the shared token, asked for
    only in ``token`` mode."""
    if settings.task_auth_mode == "token":
        return TaskTokenVerifier(task_token())
    return OidcTaskCallerVerifier(
        jwks_url=settings.tasks_oidc_jwks_url,
        audience=settings.tasks_audience or settings.tasks_url or "",
        service_account=settings.tasks_service_account or "",
    )

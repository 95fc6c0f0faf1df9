"""Bearer-token authentication. The tenant comes from the verified token and nowhere else.

Three verifiers, chosen by ``TETHER_AUTH``:

* ``dev`` — HS256 tokens signed with ``TETHER_DEV_JWT_SECRET`` (``tether token`` prints one);
  only ``tether dev`` may use it.
* ``jwks`` — RS256/ES256 tokens from any OIDC issuer, keys from its JWKS URL (PyJWT's
  ``PyJWKClient`` caches them), issuer and audience enforced.
* ``firebase`` — Firebase / Identity Platform ID tokens: Google's securetoken JWKS, issuer
  ``https://securetoken.google.com/<project>``, audience ``<project>``.

Every token must be signed with an allowed algorithm (never ``none``), unexpired, and carry
``sub`` and the tenant claim (a dotted path, e.g. ``firebase.tenant``).

Beside them, :class:`SessionAwareVerifier` sends connect session tokens (``csess_…``, one end
user's browser: :mod:`tether.connect.sessions`) to their own check, never cached, so a
revoked session stops at once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import jwt

from tether.domain.clock import Clock, SystemClock
from tether.domain.errors import ConfigurationError, Unauthenticated
from tether.domain.models import Principal

if TYPE_CHECKING:
    from tether.config import Settings

__all__ = [
    "CachingVerifier",
    "DevTokenVerifier",
    "JwksTokenVerifier",
    "SessionAwareVerifier",
    "TokenVerifier",
    "bearer_token",
    "firebase_verifier",
    "issue_dev_token",
    "token_verifier_for",
]

_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_REQUIRED = ["exp", "sub"]
_LEEWAY_SECONDS = 30


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal: ...


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization: Bearer token", code="MISSING_TOKEN")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'", code="MISSING_TOKEN")
    return token.strip()


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _principal(claims: Mapping[str, Any], tenant_claim: str) -> Principal:
    tenant = _claim(claims, tenant_claim)
    if not isinstance(tenant, str) or not _TENANT_RE.match(tenant):
        raise Unauthenticated(
            f"the token has no valid '{tenant_claim}' claim", code="INVALID_TOKEN"
        )
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the token has no subject", code="INVALID_TOKEN")
    return Principal(tenant_id=tenant, user_id=subject, claims=dict(claims))


def _decode(token: str, key: Any, algorithms: Sequence[str], **checks: Any) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(algorithms),
            leeway=_LEEWAY_SECONDS,
            options={"require": [*_REQUIRED, *(k for k in ("iss", "aud") if k in checks)]},
            **{("issuer" if k == "iss" else "audience"): v for k, v in checks.items()},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired", code="TOKEN_EXPIRED") from None
    except jwt.PyJWTError as exc:
        # The reason names the failed check (signature, audience…), never token contents.
        raise Unauthenticated(
            f"the token is not valid ({type(exc).__name__})", code="INVALID_TOKEN"
        ) from None
    return claims


class DevTokenVerifier:
    def __init__(self, secret: str, *, tenant_claim: str = "tenant_id") -> None:
        if len(secret) < 32:
            raise ConfigurationError("TETHER_DEV_JWT_SECRET must be at least 32 characters")
        self._secret = secret
        self._tenant_claim = tenant_claim

    def verify(self, token: str) -> Principal:
        return _principal(_decode(token, self._secret, ["HS256"]), self._tenant_claim)


def issue_dev_token(
    secret: str,
    *,
    tenant_id: str,
    user_id: str = "dev-user",
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": user_id,
        "tenant_id": tenant_id,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
        "iss": "tether-dev",
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class JwksTokenVerifier:
    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        tenant_claim: str = "tenant_id",
        timeout_seconds: float = 5.0,
    ) -> None:
        if any(a.upper().startswith("HS") or a.lower() == "none" for a in algorithms):
            raise ConfigurationError("TETHER_JWT_ALGORITHMS takes asymmetric algorithms only")
        self._client = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=3600, timeout=int(timeout_seconds)
        )
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._tenant_claim = tenant_claim

    def verify(self, token: str) -> Principal:
        try:
            # The JWK itself, not its raw key: PyJWT then verifies with the key's own
            # algorithm and refuses a header naming another (an ES256 token naming an RSA
            # key's kid is an invalid token, not a TypeError inside the library).
            key = self._client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise Unauthenticated(
                "the token's signing keys could not be fetched", code="JWKS_UNAVAILABLE"
            ) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(
                f"the token is not valid ({type(exc).__name__})", code="INVALID_TOKEN"
            ) from None
        claims = _decode(token, key, self._algorithms, iss=self._issuer, aud=self._audience)
        return _principal(claims, self._tenant_claim)


def firebase_verifier(
    *, project_id: str, jwks_url: str, tenant_claim: str = "tenant_id"
) -> JwksTokenVerifier:
    """Firebase Auth / Identity Platform ID tokens (RS256, Google's securetoken keys)."""
    return JwksTokenVerifier(
        jwks_url=jwks_url,
        issuer=f"https://securetoken.google.com/{project_id}",
        audience=project_id,
        algorithms=("RS256",),
        tenant_claim=tenant_claim,
    )


class CachingVerifier:
    """Remembers tokens that verified, until they expire, so a frontend's session token is
    checked once per instance rather than on every request (PyJWT's decode dominates a cheap
    request). Only successful verifications are kept, keyed by the whole token; a hit is
    re-checked against the token's ``exp`` every time; the cache is bounded (LRU)."""

    def __init__(
        self, inner: TokenVerifier, *, clock: Clock | None = None, maxsize: int = 1024
    ) -> None:
        self._inner = inner
        self._clock = clock or SystemClock()
        self._maxsize = maxsize
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        now = self._clock.now().timestamp()
        with self._lock:
            hit = self._entries.get(token)
            if hit is not None:
                if hit[1] > now:
                    self._entries.move_to_end(token)
                    return hit[0]
                del self._entries[token]
        principal = self._inner.verify(token)  # raises for expired, forged, or malformed
        expires = principal.claims.get("exp")
        if isinstance(expires, int | float) and expires > now:
            with self._lock:
                self._entries[token] = (principal, float(expires))
                while len(self._entries) > self._maxsize:
                    self._entries.popitem(last=False)
        return principal


class SessionAwareVerifier:
    """The frame's verifier: a connect session token to ``sessions`` (checked against the
    store on every request), any other to ``tokens`` (the tenant's JWTs)."""

    def __init__(self, tokens: TokenVerifier, sessions: Callable[[], TokenVerifier]) -> None:
        self._tokens = tokens
        self._sessions = sessions

    def verify(self, token: str) -> Principal:
        from tether.connect.tokens import is_session_token

        if is_session_token(token):
            return self._sessions().verify(token)
        return self._tokens.verify(token)


def token_verifier_for(
    settings: Settings, *, dev_secret: Callable[[], str], clock: Clock
) -> TokenVerifier:
    """The verifier ``TETHER_AUTH`` names, behind the cache of verified tokens.
    ``dev_secret``: the secret of dev tokens, asked for only under ``TETHER_AUTH=dev``."""
    inner: TokenVerifier
    if settings.auth == "dev":
        inner = DevTokenVerifier(dev_secret(), tenant_claim=settings.tenant_claim)
    elif settings.auth == "jwks":
        # Settings.check() guarantees all three.
        inner = JwksTokenVerifier(
            jwks_url=settings.jwks_url or "",
            issuer=settings.jwt_issuer or "",
            audience=settings.jwt_audience or "",
            algorithms=settings.algorithms,
            tenant_claim=settings.tenant_claim,
        )
    else:
        inner = firebase_verifier(
            project_id=settings.firebase_project or "",
            jwks_url=settings.firebase_jwks_url,
            tenant_claim=settings.tenant_claim,
        )
    return CachingVerifier(inner, clock=clock)

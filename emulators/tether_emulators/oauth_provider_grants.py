"""The state behind the local OAuth 2.0 provider: clients, authorization codes, token families.

No HTTP here: :mod:`tether_emulators.oauth_provider` parses requests and calls
:class:`GrantStore`, which applies RFC 6749 (codes, refresh tokens), RFC 7636 (PKCE, S256
only) and RFC 7009 (revocation) and raises :class:`OAuthError` with the error code the
endpoint answers.

Every successful code exchange starts a *family*: the access and refresh tokens issued from
that authorization, through every refresh. Revoking the family (code replay, refresh token
reuse, revocation of a refresh token, the user withdrawing access) invalidates all of them.
Token values are random (``secrets.token_urlsafe``) and are never logged or put in reprs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AUTH_METHODS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ClientSpec",
    "GrantStore",
    "OAuthError",
    "ProviderSettings",
    "TokenInfo",
    "parse_scope",
    "s256",
]

AuthMethod = Literal["client_secret_basic", "client_secret_post"]
AUTH_METHODS: frozenset[str] = frozenset({"client_secret_basic", "client_secret_post"})
DEFAULT_CLIENT_ID = "tether-test"
DEFAULT_CLIENT_SECRET = "tether-test-secret"  # noqa: S105 - a well-known throwaway test secret

# RFC 7636 §4.1: code_verifier = 43*128unreserved; §4.2: an S256 challenge is the unpadded
# base64url of a SHA-256 digest, always 43 characters.
VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
S256_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_\-]{43}")
# RFC 6749 §3.3: scope-token = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E.
SCOPE_TOKEN_RE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


class OAuthError(Exception):
    """An OAuth error response: ``error`` code, human ``description``, HTTP ``status``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class ClientSpec:
    """A registered client.

    ``client_secret`` ``None`` makes a public client (token endpoint auth method ``none``: it
    sends only ``client_id``). ``redirect_uris`` ``None`` accepts any absolute redirect URI
    (which the client must then always send); a list is matched exactly. ``auth_methods`` are
    the client authentication methods the token and revocation endpoints accept for it.
    ``scopes`` ``None`` grants any scope asked for; a set limits them (others: ``invalid_scope``)
    and is granted in full when the request names no scope.
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    redirect_uris: Sequence[str] | None = None
    auth_methods: Set[str] = AUTH_METHODS
    scopes: Set[str] | None = None

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.redirect_uris is not None:
            if isinstance(self.redirect_uris, str):
                raise TypeError("redirect_uris is a list of URIs, not one string")
            object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        methods = frozenset(self.auth_methods)
        unknown = methods - AUTH_METHODS
        if unknown:
            raise ValueError(f"unknown client authentication methods: {sorted(unknown)}")
        if self.client_secret is not None and not methods:
            raise ValueError("a confidential client needs at least one authentication method")
        object.__setattr__(self, "auth_methods", methods)
        if self.scopes is not None:
            object.__setattr__(self, "scopes", frozenset(self.scopes))

    @property
    def public(self) -> bool:
        return self.client_secret is None

    def secret_matches(self, presented: str) -> bool:
        if self.client_secret is None:
            return False
        return hmac.compare_digest(presented.encode(), self.client_secret.encode())


# What a token response says itself; ``extra_token_fields`` never sets these.
_STANDARD_TOKEN_FIELDS = frozenset(
    {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
)


@dataclass(frozen=True)
class ProviderSettings:
    """The provider's behaviour; replaced as a whole (see ``OAuthProvider.configure``).

    - ``access_token_lifetime``: seconds (``expires_in``); ``0`` issues tokens already expired.
    - ``rotate_refresh_tokens``: a refresh issues a new refresh token and retires the old one.
    - ``reuse_detection``: presenting a retired (rotated) refresh token revokes its family.
    - ``require_pkce``: ``/authorize`` needs ``code_challenge`` (S256; ``plain`` is always
      refused).
    - ``send_expires_in``: include ``expires_in`` in token responses.
    - ``issuer``: the ``iss`` of authorization responses and metadata (``None``: the base URL).
    - ``echo_refresh_token``: without rotation, repeat the unchanged refresh token in refresh
      responses (``False``: leave it out, as Google does).
    - ``issue_refresh_tokens``: give a refresh token with the code exchange at all.
    - ``refresh_token_lifetime``: seconds, ``None`` for refresh tokens that never expire.
    - ``code_lifetime``: seconds an authorization code stays valid (RFC 6749 advises 10 min
      at most; 60 s here).
    - ``subject``: the ``sub`` of the emulated user (``login_hint`` at ``/authorize``
      overrides it for that authorization).
    - ``api_items``: how many records ``/api/items`` serves, 10 per page.
    - ``extra_token_fields``: more top-level fields of every token response (an account id,
      as Slack's ``team`` or Square's ``merchant_id``); they never replace the standard ones.
    """

    access_token_lifetime: int = 3600
    rotate_refresh_tokens: bool = True
    reuse_detection: bool = True
    require_pkce: bool = True
    send_expires_in: bool = True
    issuer: str | None = None
    echo_refresh_token: bool = False
    issue_refresh_tokens: bool = True
    refresh_token_lifetime: int | None = None
    code_lifetime: int = 60
    subject: str = "user-1"
    api_items: int = 25
    extra_token_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.access_token_lifetime < 0 or self.code_lifetime < 0 or self.api_items < 0:
            raise ValueError("lifetimes and counts must not be negative")
        if self.refresh_token_lifetime is not None and self.refresh_token_lifetime < 0:
            raise ValueError("refresh_token_lifetime must not be negative")
        if not self.subject:
            raise ValueError("subject must not be empty")


@dataclass(frozen=True)
class TokenInfo:
    """What the provider knows about one token (never the token itself)."""

    kind: Literal["access_token", "refresh_token"]
    client_id: str
    scope: tuple[str, ...]
    subject: str
    family_id: str
    active: bool
    expires_at: float | None
    state: Literal["active", "expired", "revoked", "rotated"]


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``, unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def parse_scope(value: str | None) -> tuple[str, ...]:
    """Space-separated scope tokens (RFC 6749 §3.3), de-duplicated in order; ``invalid_scope``
    for empty tokens (two spaces, a leading one) or characters outside NQCHAR (commas are
    fine, but they do not separate scopes)."""
    if value is None or value == "":
        return ()
    tokens = value.split(" ")
    for token in tokens:
        if not SCOPE_TOKEN_RE.fullmatch(token):
            raise OAuthError("invalid_scope", "scope must be scope tokens separated by one space")
    return tuple(dict.fromkeys(tokens))


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    challenge: str | None
    scope: tuple[str, ...]
    subject: str
    expires_at: float
    used: bool = False
    family_id: str | None = None


@dataclass
class _Family:
    id: str
    client_id: str
    scope: tuple[str, ...]
    subject: str
    revoked: bool = False


@dataclass
class _AccessToken:
    family_id: str
    client_id: str
    scope: tuple[str, ...]
    expires_at: float
    revoked: bool = False


@dataclass
class _RefreshToken:
    family_id: str
    client_id: str
    expires_at: float | None
    state: Literal["active", "rotated", "revoked"] = "active"


class GrantStore:
    """Codes and tokens, behind one lock. Times are passed in (the provider's clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._families: dict[str, _Family] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}

    # -- authorization codes --------------------------------------------------------------

    def create_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        redirect_uri_sent: bool,
        challenge: str | None,
        scope: tuple[str, ...],
        subject: str,
        expires_at: float,
    ) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client_id=client_id,
                redirect_uri=redirect_uri,
                redirect_uri_sent=redirect_uri_sent,
                challenge=challenge,
                scope=scope,
                subject=subject,
                expires_at=expires_at,
            )
        return code

    def exchange_code(
        self,
        *,
        client_id: str,
        code: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        settings: ProviderSettings,
        now: float,
    ) -> dict[str, Any]:
        """RFC 6749 §4.1.3 with RFC 7636 §4.6; a replayed code revokes what it gave."""
        with self._lock:
            record = self._codes.get(code)
            if record is None:
                raise OAuthError("invalid_grant", "unknown authorization code")
            if record.used:
                if record.family_id is not None:
                    self._revoke_family(record.family_id)
                raise OAuthError(
                    "invalid_grant",
                    "authorization code already used; the tokens issued from it are revoked",
                )
            if record.client_id != client_id:
                raise OAuthError("invalid_grant", "authorization code issued to another client")
            if now >= record.expires_at:
                record.used = True
                raise OAuthError("invalid_grant", "authorization code expired")
            if redirect_uri is None:
                if record.redirect_uri_sent:
                    raise OAuthError(
                        "invalid_grant", "redirect_uri is required: the authorization had one"
                    )
            elif redirect_uri != record.redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri differs from the authorization's")
            # A failed PKCE check burns the code: the verifier cannot be guessed twice.
            if record.challenge is None:
                if code_verifier is not None:
                    record.used = True
                    raise OAuthError(
                        "invalid_grant", "code_verifier sent but the authorization had no challenge"
                    )
            else:
                if code_verifier is None:
                    record.used = True
                    raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
                if not VERIFIER_RE.fullmatch(code_verifier):
                    record.used = True
                    raise OAuthError(
                        "invalid_grant", "code_verifier must be 43-128 unreserved characters"
                    )
                if not hmac.compare_digest(s256(code_verifier), record.challenge):
                    record.used = True
                    raise OAuthError("invalid_grant", "code_verifier does not match the challenge")
            record.used = True
            family = self._new_family(client_id, record.scope, record.subject)
            record.family_id = family.id
            refresh = (
                self._new_refresh(family, settings, now) if settings.issue_refresh_tokens else None
            )
            return self._token_response(family, family.scope, refresh, settings, now)

    # -- refresh --------------------------------------------------------------------------

    def refresh(
        self,
        *,
        client_id: str,
        refresh_token: str,
        scope: tuple[str, ...] | None,
        settings: ProviderSettings,
        now: float,
    ) -> dict[str, Any]:
        """RFC 6749 §6, with rotation and reuse detection (RFC 9700 §4.14.2)."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None:
                raise OAuthError("invalid_grant", "unknown refresh token")
            family = self._families[record.family_id]
            if record.client_id != client_id:
                raise OAuthError("invalid_grant", "refresh token issued to another client")
            if family.revoked or record.state == "revoked":
                raise OAuthError("invalid_grant", "refresh token revoked")
            if record.state == "rotated":
                if settings.reuse_detection:
                    self._revoke_family(family.id)
                    raise OAuthError(
                        "invalid_grant", "refresh token already used; the whole grant is revoked"
                    )
                raise OAuthError("invalid_grant", "refresh token already used")
            if record.expires_at is not None and now >= record.expires_at:
                raise OAuthError("invalid_grant", "refresh token expired")
            granted = family.scope
            if scope:
                extra = [token for token in scope if token not in family.scope]
                if extra:
                    raise OAuthError(
                        "invalid_scope", f"scope beyond the original grant: {' '.join(extra)}"
                    )
                granted = scope
            new_refresh: str | None = None
            if settings.rotate_refresh_tokens:
                record.state = "rotated"
                new_refresh = self._new_refresh(family, settings, now)
            elif settings.echo_refresh_token:
                new_refresh = refresh_token
            return self._token_response(family, granted, new_refresh, settings, now)

    def issue(
        self,
        *,
        client_id: str,
        scope: tuple[str, ...],
        subject: str,
        settings: ProviderSettings,
        now: float,
    ) -> dict[str, Any]:
        """Tokens as a code exchange would give them, without the HTTP round trips."""
        with self._lock:
            family = self._new_family(client_id, scope, subject)
            refresh = (
                self._new_refresh(family, settings, now) if settings.issue_refresh_tokens else None
            )
            return self._token_response(family, scope, refresh, settings, now)

    # -- revocation and inspection --------------------------------------------------------

    def revoke(self, token: str, *, client_id: str | None = None, hint: str | None = None) -> bool:
        """RFC 7009 §2.1: a refresh token takes its whole family with it, an access token only
        itself. ``False`` for unknown tokens; ``invalid_request`` when ``client_id`` is given
        and the token belongs to another client."""
        with self._lock:
            kinds = ["refresh_token", "access_token"]
            if hint == "access_token":
                kinds.reverse()
            for kind in kinds:
                if kind == "refresh_token" and token in self._refresh:
                    refresh = self._refresh[token]
                    self._check_owner(refresh.client_id, client_id)
                    self._revoke_family(refresh.family_id)
                    return True
                if kind == "access_token" and token in self._access:
                    access = self._access[token]
                    self._check_owner(access.client_id, client_id)
                    access.revoked = True
                    return True
            return False

    def revoke_all(self) -> int:
        """Revoke every family (the user withdrew every grant); how many were still live."""
        with self._lock:
            live = [family.id for family in self._families.values() if not family.revoked]
            for family_id in live:
                self._revoke_family(family_id)
            return len(live)

    def expire_access_tokens(self, now: float) -> int:
        with self._lock:
            count = 0
            for access in self._access.values():
                if access.expires_at > now:
                    access.expires_at = now
                    count += 1
            return count

    def info(self, token: str, now: float) -> TokenInfo | None:
        with self._lock:
            if token in self._access:
                access = self._access[token]
                family = self._families[access.family_id]
                state: Literal["active", "expired", "revoked", "rotated"]
                if access.revoked or family.revoked:
                    state = "revoked"
                elif now >= access.expires_at:
                    state = "expired"
                else:
                    state = "active"
                return TokenInfo(
                    kind="access_token",
                    client_id=access.client_id,
                    scope=access.scope,
                    subject=family.subject,
                    family_id=family.id,
                    active=state == "active",
                    expires_at=access.expires_at,
                    state=state,
                )
            if token in self._refresh:
                refresh = self._refresh[token]
                family = self._families[refresh.family_id]
                if family.revoked or refresh.state == "revoked":
                    state = "revoked"
                elif refresh.state == "rotated":
                    state = "rotated"
                elif refresh.expires_at is not None and now >= refresh.expires_at:
                    state = "expired"
                else:
                    state = "active"
                return TokenInfo(
                    kind="refresh_token",
                    client_id=refresh.client_id,
                    scope=family.scope,
                    subject=family.subject,
                    family_id=family.id,
                    active=state == "active",
                    expires_at=refresh.expires_at,
                    state=state,
                )
            return None

    def active_refresh_tokens(self, now: float) -> list[str]:
        with self._lock:
            return [
                token
                for token, refresh in self._refresh.items()
                if refresh.state == "active"
                and not self._families[refresh.family_id].revoked
                and (refresh.expires_at is None or now < refresh.expires_at)
            ]

    # -- internals (lock held) ------------------------------------------------------------

    @staticmethod
    def _check_owner(owner: str, client_id: str | None) -> None:
        if client_id is not None and owner != client_id:
            raise OAuthError("invalid_request", "the token was issued to another client")

    def _new_family(self, client_id: str, scope: tuple[str, ...], subject: str) -> _Family:
        family = _Family(id=secrets.token_hex(8), client_id=client_id, scope=scope, subject=subject)
        self._families[family.id] = family
        return family

    def _new_refresh(self, family: _Family, settings: ProviderSettings, now: float) -> str:
        token = secrets.token_urlsafe(32)
        lifetime = settings.refresh_token_lifetime
        self._refresh[token] = _RefreshToken(
            family_id=family.id,
            client_id=family.client_id,
            expires_at=None if lifetime is None else now + lifetime,
        )
        return token

    def _token_response(
        self,
        family: _Family,
        scope: tuple[str, ...],
        refresh_token: str | None,
        settings: ProviderSettings,
        now: float,
    ) -> dict[str, Any]:
        access_token = secrets.token_urlsafe(32)
        lifetime = settings.access_token_lifetime
        self._access[access_token] = _AccessToken(
            family_id=family.id, client_id=family.client_id, scope=scope, expires_at=now + lifetime
        )
        body: dict[str, Any] = {
            key: value
            for key, value in settings.extra_token_fields.items()
            if key not in _STANDARD_TOKEN_FIELDS
        }
        body.update({"access_token": access_token, "token_type": "Bearer"})
        if settings.send_expires_in:
            body["expires_in"] = lifetime
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        if scope:
            body["scope"] = " ".join(scope)
        return body

    def _revoke_family(self, family_id: str) -> None:
        self._families[family_id].revoked = True
        for refresh in self._refresh.values():
            if refresh.family_id == family_id:
                refresh.state = "revoked"
        for access in self._access.values():
            if access.family_id == family_id:
                access.revoked = True

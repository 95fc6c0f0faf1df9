"""A local OAuth 2.0 authorization server, for tests and the demo, over real HTTP on loopback.

:class:`OAuthProvider` serves, from a werkzeug server thread (``start()`` / ``stop()``, or as
a context manager)::

    GET|POST /authorize    authorization endpoint (RFC 6749 §4.1.1), consent is automatic
    POST     /token        token endpoint: authorization_code, refresh_token
    POST     /revoke       token revocation (RFC 7009)
    GET      /api/me       a protected resource (RFC 6750 bearer tokens)
    GET      /api/items    another one, paginated: ?page=1.. (10 records a page)
    GET      /.well-known/oauth-authorization-server   metadata (RFC 8414)

Run it in the foreground with ``python -m tether_emulators.oauth_provider --port 8085``.

What it implements:

- RFC 6749: the authorization code grant and refresh tokens. ``/authorize`` checks
  ``client_id`` and ``redirect_uri`` first (exact match against a registered list; any
  absolute URI without a fragment for clients registered without one) and answers a 400 page
  when either is wrong; every other error is redirected (``error``, ``error_description``,
  ``state``, ``iss``), as §4.1.2.1 says. Codes are random, single use, valid 60 s and bound to
  the client, redirect URI, PKCE challenge and scope; a replayed code answers ``invalid_grant``
  and revokes the tokens issued from it (§4.1.2). Client authentication (§2.3.1) by HTTP Basic,
  with id and secret form-urlencoded before base64 and decoded accordingly, or by
  ``client_id``/``client_secret`` in the body; never both. Public clients (no secret) send only
  ``client_id``. Parameters may not repeat (§3.1, §3.2). Token requests may be form-encoded or,
  as some providers accept, JSON. Token responses carry ``Cache-Control: no-store``.
- Refresh token rotation and reuse detection (RFC 9700 §4.14.2): a rotated refresh token
  presented again answers ``invalid_grant`` and revokes its whole family, i.e. every token
  descended from the same authorization. Both can be switched off.
- RFC 7636: ``code_challenge_method=S256`` only (``plain`` is refused); verifiers of 43-128
  unreserved characters; a verifier sent for an authorization without a challenge is refused
  (RFC 9700 §2.1.1). PKCE can be made optional (``require_pkce=False``).
- RFC 9207: ``iss`` in every authorization response, success or error.
- RFC 7009: revoking a refresh token revokes its family; an access token, only itself; unknown
  tokens answer 200; a token of another client answers ``invalid_request``.
- Token responses: ``access_token``, ``token_type`` ``Bearer``, ``expires_in`` (unless
  switched off), ``refresh_token`` (on refresh: only when rotating, or with
  ``echo_refresh_token``), ``scope`` (left out when nothing was granted).
- ``stop()`` also closes open keep-alive connections: a stopped provider answers nothing.
- Test levers: :meth:`OAuthProvider.inject` (errors, delays, ``Retry-After``, bodies that are
  not JSON, answers lost after the work was done), :meth:`OAuthProvider.deny_next` or
  ``deny=1`` on ``/authorize`` (``access_denied``), :meth:`OAuthProvider.revoke` and
  :meth:`OAuthProvider.revoke_all` (the user withdrawing access at the provider),
  :meth:`OAuthProvider.advance_clock`, runtime settings (:meth:`OAuthProvider.configure`),
  counters (:attr:`OAuthProvider.stats`) and a record of every request
  (:meth:`OAuthProvider.requests`, :attr:`OAuthProvider.token_requests`).

What it does not implement: a login or consent page (consent is automatic; ``login_hint``
picks the user's ``sub``), OpenID Connect (no ID tokens, no userinfo beyond ``/api/me``), the
implicit, password, client credentials and device grants (``unsupported_grant_type``), dynamic
client registration, introspection (RFC 7662), JWT access tokens, PAR, DPoP or mTLS, TLS, and
persistence (everything lives in memory). Tokens are opaque random strings; they are never
logged (requests are logged at DEBUG level, without their query string).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from wsgiref.types import WSGIApplication

from tether_emulators.foreground import stop_signals
from tether_emulators.oauth_provider_grants import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    ClientSpec,
    GrantStore,
    ProviderSettings,
    TokenInfo,
    parse_scope,
    s256,
)
from tether_emulators.oauth_provider_http import (
    API_ITEMS_PATH,
    API_ME_PATH,
    AUTHORIZE_PATH,
    ENDPOINTS,
    METADATA_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    Endpoint,
    Injection,
    ProviderApp,
    RequestRecord,
)
from tether_emulators.wsgi_server import ServedEmulator

__all__ = [
    "ClientSpec",
    "Injection",
    "OAuthProvider",
    "ProviderSettings",
    "RequestRecord",
    "TokenInfo",
    "main",
    "s256",
]

MAX_RECORDS = 10_000


class OAuthProvider(ServedEmulator):
    """The provider. Every setting, injection and counter is safe to use from test threads
    while the server threads answer requests."""

    _what = "the OAuth provider"
    _thread_name = "oauth-provider"

    def __init__(
        self,
        *,
        clients: Mapping[str, ClientSpec] | None = None,
        access_token_lifetime: int = 3600,
        rotate_refresh_tokens: bool = True,
        reuse_detection: bool = True,
        require_pkce: bool = True,
        send_expires_in: bool = True,
        issuer: str | None = None,
        echo_refresh_token: bool = False,
        issue_refresh_tokens: bool = True,
        refresh_token_lifetime: int | None = None,
        subject: str = "user-1",
        extra_token_fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._settings = ProviderSettings(
            access_token_lifetime=access_token_lifetime,
            rotate_refresh_tokens=rotate_refresh_tokens,
            reuse_detection=reuse_detection,
            require_pkce=require_pkce,
            send_expires_in=send_expires_in,
            issuer=issuer,
            echo_refresh_token=echo_refresh_token,
            issue_refresh_tokens=issue_refresh_tokens,
            refresh_token_lifetime=refresh_token_lifetime,
            subject=subject,
            extra_token_fields=dict(extra_token_fields or {}),
        )
        if clients is None:
            clients = {
                DEFAULT_CLIENT_ID: ClientSpec(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            }
        for key, spec in clients.items():
            if key != spec.client_id:
                raise ValueError(f"clients[{key!r}] has client_id {spec.client_id!r}")
        self._clients: dict[str, ClientSpec] = dict(clients)
        self._grants = GrantStore()
        self._injections: dict[str, deque[Injection]] = {name: deque() for name in ENDPOINTS}
        self._stats: Counter[str] = Counter()
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._clock_offset = 0.0
        self._app = ProviderApp(self)

    # -- lifecycle ------------------------------------------------------------------------

    def _wsgi_app(self) -> WSGIApplication:
        return self._app

    # -- addresses ------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        configured = self.settings.issuer
        return configured if configured is not None else self.url

    @issuer.setter
    def issuer(self, value: str | None) -> None:
        self.configure(issuer=value)

    @property
    def authorization_url(self) -> str:
        return self.url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def revocation_url(self) -> str:
        return self.url + REVOKE_PATH

    @property
    def api_url(self) -> str:
        """The ``/api/me`` resource."""
        return self.url + API_ME_PATH

    @property
    def api_items_url(self) -> str:
        return self.url + API_ITEMS_PATH

    @property
    def metadata_url(self) -> str:
        return self.url + METADATA_PATH

    # -- settings -------------------------------------------------------------------------

    @property
    def settings(self) -> ProviderSettings:
        """The current settings (an immutable snapshot)."""
        with self._lock:
            return self._settings

    def configure(self, **changes: Any) -> ProviderSettings:
        """Change any :class:`ProviderSettings` fields at once; the new settings. Requests
        being answered keep the settings they started with."""
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return self._settings

    @property
    def access_token_lifetime(self) -> int:
        return self.settings.access_token_lifetime

    @access_token_lifetime.setter
    def access_token_lifetime(self, value: int) -> None:
        self.configure(access_token_lifetime=value)

    @property
    def rotate_refresh_tokens(self) -> bool:
        return self.settings.rotate_refresh_tokens

    @rotate_refresh_tokens.setter
    def rotate_refresh_tokens(self, value: bool) -> None:
        self.configure(rotate_refresh_tokens=value)

    @property
    def reuse_detection(self) -> bool:
        return self.settings.reuse_detection

    @reuse_detection.setter
    def reuse_detection(self, value: bool) -> None:
        self.configure(reuse_detection=value)

    @property
    def require_pkce(self) -> bool:
        return self.settings.require_pkce

    @require_pkce.setter
    def require_pkce(self, value: bool) -> None:
        self.configure(require_pkce=value)

    @property
    def send_expires_in(self) -> bool:
        return self.settings.send_expires_in

    @send_expires_in.setter
    def send_expires_in(self, value: bool) -> None:
        self.configure(send_expires_in=value)

    # -- clients --------------------------------------------------------------------------

    @property
    def clients(self) -> dict[str, ClientSpec]:
        with self._lock:
            return dict(self._clients)

    def add_client(self, spec: ClientSpec) -> None:
        """Register (or replace) a client."""
        with self._lock:
            self._clients[spec.client_id] = spec

    def remove_client(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)

    def client(self, client_id: str) -> ClientSpec | None:
        with self._lock:
            return self._clients.get(client_id)

    # -- test levers ----------------------------------------------------------------------

    def inject(
        self,
        endpoint: Endpoint,
        *,
        status: int | None = 503,
        error: str | None = None,
        times: int = 1,
        delay: float = 0.0,
        body: str | None = None,
        retry_after: str | None = None,
        error_description: str | None = None,
        content_type: str | None = None,
        process_first: bool = False,
    ) -> Injection:
        """Answer the next ``times`` requests to ``endpoint`` (``token``, ``revoke``,
        ``authorize`` or ``api``) as described by :class:`Injection`. Injections queue up:
        the next one applies once this one is spent."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        injection = Injection(
            endpoint=endpoint,
            status=status,
            error=error,
            error_description=error_description,
            remaining=times,
            delay=delay,
            body=body,
            content_type=content_type,
            retry_after=retry_after,
            process_first=process_first,
        )
        with self._lock:
            self._injections[endpoint].append(injection)
        return injection

    def clear_injections(self, endpoint: Endpoint | None = None) -> None:
        with self._lock:
            for name, queue in self._injections.items():
                if endpoint is None or name == endpoint:
                    queue.clear()

    def deny_next(self, times: int = 1, *, error: str = "access_denied") -> Injection:
        """The next ``times`` authorizations are refused, as when the user clicks "Deny"."""
        return self.inject("authorize", status=None, error=error, times=times)

    def revoke(self, token: str) -> bool:
        """Revoke a token as the user would at the provider (a refresh token takes its family
        with it); whether it was known."""
        return self._grants.revoke(token)

    def revoke_all(self) -> int:
        """Revoke every grant; how many were still live."""
        return self._grants.revoke_all()

    def expire_access_tokens(self) -> int:
        """Make every access token issued so far expired now; how many were still valid."""
        return self._grants.expire_access_tokens(self.now())

    def advance_clock(self, seconds: float) -> None:
        """Move the provider's clock forward (codes, tokens and ``expires_in`` follow it)."""
        with self._lock:
            self._clock_offset += seconds

    def now(self) -> float:
        """The provider's clock: wall time plus :meth:`advance_clock` offsets."""
        with self._lock:
            offset = self._clock_offset
        return time.time() + offset

    def issue_tokens(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        scope: str = "",
        subject: str | None = None,
    ) -> dict[str, Any]:
        """A token response as a code exchange would answer it, without the round trips."""
        settings = self.settings
        if self.client(client_id) is None:
            raise ValueError(f"unknown client {client_id!r}")
        return self._grants.issue(
            client_id=client_id,
            scope=parse_scope(scope),
            subject=subject or settings.subject,
            settings=settings,
            now=self.now(),
        )

    # -- inspection -----------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Requests per endpoint (``authorize``, ``token``, ``revoke``, ``api``,
        ``metadata``), per grant type (``token.authorization_code``, ``token.refresh_token``)
        and per API path (``api.me``, ``api.items``). A snapshot."""
        with self._lock:
            return dict(self._stats)

    def requests(self, endpoint: str | None = None) -> list[RequestRecord]:
        """Every request answered (oldest first), or those to one endpoint."""
        with self._lock:
            return [r for r in self._records if endpoint is None or r.endpoint == endpoint]

    @property
    def token_requests(self) -> list[RequestRecord]:
        return self.requests("token")

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._records.clear()

    def active_refresh_tokens(self) -> list[str]:
        return self._grants.active_refresh_tokens(self.now())

    def is_active(self, token: str) -> bool:
        """Whether ``token`` (access or refresh) would be accepted now."""
        info = self._grants.info(token, self.now())
        return info is not None and info.active

    def token_info(self, token: str) -> TokenInfo | None:
        return self._grants.info(token, self.now())

    # -- used by the app ------------------------------------------------------------------

    def _take_injection(self, endpoint: str) -> Injection | None:
        with self._lock:
            queue = self._injections.get(endpoint)
            if not queue:
                return None
            injection = queue[0]
            injection.remaining -= 1
            if injection.remaining <= 0:
                queue.popleft()
            return injection

    def _count(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._stats[key] += 1

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tether_emulators.oauth_provider",
        description="A local OAuth 2.0 authorization server (code flow, PKCE, refresh, revoke).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8085, help="port (0: any free one)")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument(
        "--client-secret",
        default=DEFAULT_CLIENT_SECRET,
        help='the client secret ("" registers a public client)',
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="a registered redirect URI (repeatable; none given: any is accepted)",
    )
    parser.add_argument("--lifetime", type=int, default=3600, help="access token lifetime (s)")
    parser.add_argument("--issuer", default=None, help="the issuer (default: the base URL)")
    parser.add_argument("--no-rotation", action="store_true", help="keep refresh tokens")
    parser.add_argument("--no-reuse-detection", action="store_true")
    parser.add_argument("--no-pkce", action="store_true", help="make PKCE optional")
    parser.add_argument("--no-expires-in", action="store_true", help="omit expires_in")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")

    client = ClientSpec(args.client_id, args.client_secret or None, redirect_uris=args.redirect_uri)
    provider = OAuthProvider(
        clients={client.client_id: client},
        access_token_lifetime=args.lifetime,
        rotate_refresh_tokens=not args.no_rotation,
        reuse_detection=not args.no_reuse_detection,
        require_pkce=not args.no_pkce,
        send_expires_in=not args.no_expires_in,
        issuer=args.issuer,
    )
    provider.start(host=args.host, port=args.port)
    try:
        with stop_signals() as done:
            print(f"issuer:            {provider.issuer}")
            print(f"authorization_url: {provider.authorization_url}")
            print(f"token_url:         {provider.token_url}")
            print(f"revocation_url:    {provider.revocation_url}")
            print(f"api_url:           {provider.api_url}")
            print(f"client_id:         {client.client_id}", flush=True)
            while not done.wait(timeout=1.0):
                pass
    finally:
        provider.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

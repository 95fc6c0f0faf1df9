"""The OAuth2 authorization code flow with PKCE: ``oauth_start`` and ``oauth_callback``.

Start (authenticated) checks the request, creates a single-use state and answers the
provider's authorization URL. The state is random (≥ 128 bits), stored only as its SHA-256
hash, expires (10 minutes by default) and is bound to the tenant, the user, the provider, the
exact redirect URI and the expected issuer; the PKCE verifier and any client secret the tenant
gave travel inside it sealed (AES-256-GCM, AAD bound to tenant, state hash and purpose).

The callback (public: the browser arrives from the provider) consumes the state atomically,
checks it (known, unused, unexpired), checks ``iss`` when the provider's issuer is known
(RFC 9207 §2.4: a different ``iss`` and a missing one are both refused), exchanges the code
with the verifier and only then writes anything: the connection is created (or, for a
reconnect, updated) in one step, already ``active``, with the refresh token in the credential
payload and the access token sealed on the record. Once the state is consumed every failure,
typed or unexpected, ends in a redirect to ``return_to`` carrying ``error`` and a safe
message, and leaves no half-made connection. Replays, unknown states and tampered states write
nothing.

When the provider's catalog entry says where its answer proves the account id its app-level
webhooks name (``webhook_route_from``), the callback stores that value as the connection's
``webhook_route`` (see :mod:`tether.webhooks.routing`), on a reconnect too (``None``
when the answer lacks it); where it is one of the accounts the new token reaches (Xero's
organisations, a GitHub App's installations), the catalog's post-connect lookup asks the
provider for them first (:mod:`tether.oauth.route_lookup`). Another live connection already
holding the value makes the callback fail with ``error=route_taken`` and nothing stored.

Size: the two halves of one flow (start, callback) share the state, its sealing and its checks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from tether.connections.audit_trail import AuditTrail
from tether.connections.commands import StartOAuth
from tether.connections.config_urls import check_config_urls
from tether.connections.credential_reads import REFRESH_TOKEN_FIELD, payload_of
from tether.connections.events import ConnectionEvent, ConnectionEvents
from tether.connections.masking import credential_hints
from tether.connections.service import validate_against_schema
from tether.crypto import Sealer
from tether.crypto.purposes import OAUTH_STATE_PURPOSE
from tether.domain.clock import Clock
from tether.domain.compare_and_set import compare_and_set
from tether.domain.connect_scope import check_provider, check_reach, end_user_of
from tether.domain.errors import (
    ConfigurationError,
    Conflict,
    InvalidRequest,
    NotFound,
    TetherError,
)
from tether.domain.ids import IdGenerator
from tether.domain.models import (
    AuditAction,
    AuditEvent,
    Connection,
    OAuthState,
    Principal,
    WebhookInfo,
)
from tether.domain.status import ConnectionStatus, check_transition
from tether.logs import register_secret
from tether.oauth import browser_binding
from tether.oauth.authorize import authorization_url, new_state, state_hash
from tether.oauth.clients import OAuthClients, requested_scopes, with_offline_access
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.pkce import new_verifier, s256_challenge
from tether.oauth.route_lookup import POST_CONNECT
from tether.oauth.token_storage import TokenStorage
from tether.ports import (
    AuditLog,
    ConnectionRepository,
    ConnectSessionRepository,
    OAuthStateRepository,
    SecretStore,
)

if TYPE_CHECKING:
    from tether.catalog import Catalog, Provider
    from tether.oauth.route_lookup import AccountLookup
    from tether.webhooks.provisioning import IssuedWebhook, WebhookProvisioning

__all__ = ["OAuthCallbackResult", "OAuthFlowService", "StartedOAuth"]


class FlowRecords(
    ConnectionRepository, AuditLog, OAuthStateRepository, ConnectSessionRepository, Protocol
):
    """The record ports the flow uses: connections, their audit trail, pending states, and
    the connect sessions whose flows must end with them."""


log = logging.getLogger("tether.oauth")

STATE_PURPOSE = OAUTH_STATE_PURPOSE
ROUTE_TAKEN = "WEBHOOK_ROUTE_TAKEN"
_SAFE_ERROR = re.compile(r"^[a-z_]{1,64}$")
_SERVER_ERROR_MESSAGE = "the connection could not be completed; try again"


class CodeExchanger(Protocol):
    def exchange_code(
        self,
        client: OAuthClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        now: datetime,
    ) -> TokenSet: ...


@dataclass(frozen=True)
class StartedOAuth:
    """``browser_binding``: for a flow bound to the browser that started it, the cookie
    (name, value, max age in seconds) the answer to the start sets (see
    :mod:`tether.oauth.browser_binding`)."""

    authorization_url: str
    state: str
    expires_at: datetime
    browser_binding: tuple[str, str, int] | None = None
    # The new connection's own webhook URL (and minted signing secret), shown this once.
    webhook: IssuedWebhook | None = None


@dataclass(frozen=True)
class OAuthCallbackResult:
    """Where to send the browser: ``location`` is ``return_to`` with the outcome, or ``None``
    when the state is unknown (then there is nowhere safe to go: the callback answers 400)."""

    location: str | None
    connection_id: str | None = None
    error: str | None = None
    message: str | None = None
    # The browser-binding cookie of the flow, spent: the answer clears it.
    spent_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class _Grant:
    """What a callback obtained, to store on a new connection or on the one it reconnects."""

    config: dict[str, Any]
    credentials: dict[str, Any]
    tokens: TokenSet
    scopes: list[str]
    route: str | None
    connected: AuditEvent


class _Abort(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def return_url_allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    """Exact scheme, host and port of an allowed prefix; the path must be its path or lie
    under it, segment by segment, with no dot segment a browser would resolve out of it."""
    try:
        target = urlsplit(url)
    except ValueError:
        return False
    if target.scheme not in ("http", "https") or not target.netloc or "@" in target.netloc:
        return False
    # Browsers read ``\`` as ``/`` in http(s) paths, and ``%2e`` as ``.`` in dot segments.
    path = target.path.replace("\\", "/")
    if any(segment.lower().replace("%2e", ".") in (".", "..") for segment in path.split("/")):
        return False
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        if (
            allowed.scheme == target.scheme
            and allowed.netloc.lower() == target.netloc.lower()
            and _under(path, allowed.path or "/")
        ):
            return True
    return False


def _under(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or below it: ``/integrations/done`` is under
    ``/integrations``, ``/integrations-evil`` is not."""
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class OAuthFlowService:
    def __init__(
        self,
        *,
        store: FlowRecords,
        secrets: SecretStore,
        sealer: Sealer,
        token_storage: TokenStorage,
        catalog: Callable[[], Catalog],
        clients: OAuthClients,
        endpoint: Callable[[], CodeExchanger],
        clock: Clock,
        ids: IdGenerator,
        redirect_uri: str | None,
        allowed_return_urls: tuple[str, ...],
        state_ttl_seconds: int = 600,
        on_tokens_stored: Callable[[Connection], None] | None = None,
        events: ConnectionEvents | None = None,
        accounts: Callable[[], AccountLookup] | None = None,
        webhooks: Callable[[], WebhookProvisioning] | None = None,
    ) -> None:
        """``accounts``: runs a provider's post-connect lookup of its webhook route
        (:mod:`tether.oauth.route_lookup`); without one, such providers get no route.
        ``webhooks``: issues a new connection's own webhook URL as ``POST /connections``
        does (:meth:`WebhookProvisioning.prepare`); without it, none is issued."""
        self._store = store
        self._secrets = secrets
        self._sealer = sealer
        self._tokens = token_storage
        self._catalog = catalog
        self._clients = clients
        self._endpoint = endpoint
        self._clock = clock
        self._ids = ids
        self._trail = AuditTrail(log=store, ids=ids, clock=clock)
        self._redirect_uri = redirect_uri
        self._allowed = allowed_return_urls
        self._ttl = timedelta(seconds=state_ttl_seconds)
        self._on_tokens_stored = on_tokens_stored
        self._events = events
        self._accounts = accounts
        self._webhooks = webhooks

    # -- start ------------------------------------------------------------------------------
    def start(self, principal: Principal, request: StartOAuth) -> StartedOAuth:
        if not self._redirect_uri:
            raise InvalidRequest(
                "the OAuth callback URL is not configured (TETHER_PUBLIC_URL)",
                code="OAUTH_NOT_CONFIGURED",
                http_status=500,
            )
        if not return_url_allowed(request.return_to, self._allowed):
            raise InvalidRequest(
                "return_to is not an allowed return URL (TETHER_ALLOWED_RETURN_URLS)",
                code="RETURN_TO_NOT_ALLOWED",
            )
        existing: Connection | None = None
        if request.connection_id is not None:
            existing = self._store.get_connection(principal.tenant_id, request.connection_id)
            if existing is None:
                raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
            check_reach(principal, existing.end_user_id)
            # Reconnecting is connecting: a session only for the providers it offers.
            check_provider(principal, existing.provider)
            provider = self._catalog().get(existing.provider)
            config = dict(existing.config)
            credentials = payload_of(self._secrets, self._store, existing)[0]
            scopes = request.scopes or list(existing.scopes)
        else:
            check_provider(principal, request.provider or "")
            provider = self._catalog().get(request.provider or "")
            config = provider.config_with_defaults(request.config)
            credentials = dict(request.credentials)
            for value in credentials.values():
                if isinstance(value, str):
                    register_secret(value)
            # The connection's own webhook signing secret is no client credential.
            own_secret = provider.webhook.secret_field if provider.webhook else None
            if set(credentials) - {own_secret} and not self._clients.is_custom(provider):
                raise InvalidRequest(
                    f"{provider.display_name} uses Tether's registered OAuth client; "
                    "credentials are only taken for custom OAuth2 providers (and a "
                    "connection's own webhook signing secret)",
                    code="CREDENTIALS_NOT_ALLOWED",
                )
            validate_against_schema(config, provider.config_schema, section="config")
            check_config_urls(provider, config)
            validate_against_schema(credentials, provider.credentials_schema, section="credentials")
            scopes = requested_scopes(provider, config, request.scopes)
        try:
            client = self._clients.client(provider, config, credentials)
        except ConfigurationError as exc:
            # The deployment has no OAuth client for this provider: nothing the caller can
            # retry, and no server fault either; the message names the missing setting.
            raise Conflict(exc.message, code=exc.code) from None

        scopes = with_offline_access(client, scopes)
        prepared = None
        if existing is None and self._webhooks is not None:
            prepared = self._webhooks().prepare(provider.key, credentials)
        if prepared is not None:
            credentials = prepared.credentials
            for value in credentials.values():
                if isinstance(value, str):
                    register_secret(value)
        now = self._clock.now()
        state = new_state()
        hashed = state_hash(state)
        verifier = new_verifier() if client.pkce else None
        sealed = self._sealer.seal_json(
            {"verifier": verifier, "credentials": credentials if existing is None else {}},
            tenant_id=principal.tenant_id,
            record_id=hashed,
            purpose=STATE_PURPOSE,
        )
        expires_at = now + self._ttl
        # A browser (a connect session's page) is bound to the flow it starts.
        binder = browser_binding.new_binder() if principal.session is not None else None
        self._store.create_oauth_state(
            OAuthState(
                state_hash=hashed,
                tenant_id=principal.tenant_id,
                user_id=principal.user_id,
                provider=provider.key,
                redirect_uri=self._redirect_uri,
                created_at=now,
                expires_at=expires_at,
                data={
                    "sealed": sealed,
                    "issuer": client.issuer,
                    "issuer_required": client.issuer_required,
                    "return_to": request.return_to,
                    "connection_id": request.connection_id,
                    "display_name": request.display_name,
                    "config": config if existing is None else {},
                    "metadata": dict(request.metadata),
                    "scopes": scopes,
                    "end_user_id": end_user_of(principal)
                    or (existing.end_user_id if existing is not None else None),
                    "binding": None if binder is None else browser_binding.binder_hash(binder),
                    "session_id": None
                    if principal.session is None
                    else principal.session.session_id,
                    "webhook": None if prepared is None else prepared.info.model_dump(),
                },
            )
        )
        self._trail.append(
            principal,
            request.connection_id,
            AuditAction.OAUTH_STARTED,
            provider=provider.key,
            scopes=scopes,
        )
        url = authorization_url(
            client,
            redirect_uri=self._redirect_uri,
            state=state,
            scopes=scopes,
            code_challenge=s256_challenge(verifier) if verifier else None,
        )
        return StartedOAuth(
            authorization_url=url,
            state=state,
            expires_at=expires_at,
            browser_binding=None
            if binder is None
            else (browser_binding.cookie_name(hashed), binder, int(self._ttl.total_seconds())),
            webhook=None if prepared is None else prepared.issued,
        )

    # -- callback ---------------------------------------------------------------------------
    def callback(
        self, query: Mapping[str, str], cookies: Mapping[str, str] | None = None
    ) -> OAuthCallbackResult:
        """``cookies``: the browser's, for a flow bound to the browser that started it."""
        result = self._callback(query, cookies or {})
        if result.location is None:
            return result
        raw_state = query.get("state", "")
        name = browser_binding.cookie_name(state_hash(raw_state))
        return replace(result, spent_cookie=name) if name in (cookies or {}) else result

    def _callback(
        self, query: Mapping[str, str], cookies: Mapping[str, str]
    ) -> OAuthCallbackResult:
        raw_state = query.get("state", "")
        if not raw_state or len(raw_state) > 512:
            return OAuthCallbackResult(None, error="invalid_state", message="missing state")
        now = self._clock.now()
        state = self._store.consume_oauth_state(state_hash(raw_state), now=now)
        if state is None:
            return OAuthCallbackResult(
                None, error="invalid_state", message="unknown or tampered state"
            )
        return_to = str(state.data.get("return_to") or "")
        principal = Principal(tenant_id=state.tenant_id, user_id=state.user_id)
        try:
            _check_browser(state, cookies)
            connection = self._complete(state, principal, query, now)
        except _Abort as abort:
            return self._refused(state, principal, return_to, abort)
        except TetherError as exc:
            # The state is spent: whatever failed, the browser goes back with the reason.
            log.warning("OAuth callback failed: %s", exc.code, extra={"provider": state.provider})
            return self._refused(state, principal, return_to, _abort_for(exc))
        except Exception:
            log.exception("OAuth callback failed unexpectedly", extra={"provider": state.provider})
            return self._refused(
                state, principal, return_to, _Abort("server_error", _SERVER_ERROR_MESSAGE)
            )
        return OAuthCallbackResult(
            _with_query(return_to, {"connection_id": connection.id, "status": "active"}),
            connection_id=connection.id,
        )

    def _refused(
        self, state: OAuthState, principal: Principal, return_to: str, abort: _Abort
    ) -> OAuthCallbackResult:
        try:
            self._trail.append(
                principal,
                state.data.get("connection_id"),
                AuditAction.OAUTH_FAILED,
                provider=state.provider,
                error=abort.error,
            )
        except TetherError as exc:
            log.warning("could not audit a refused OAuth callback (%s)", exc.code)
        log.info("OAuth callback refused: %s", abort.error, extra={"provider": state.provider})
        return OAuthCallbackResult(
            _with_query(return_to, {"error": abort.error, "message": abort.message}),
            error=abort.error,
            message=abort.message,
        )

    def _complete(
        self, state: OAuthState, principal: Principal, query: Mapping[str, str], now: datetime
    ) -> Connection:
        if state.used_at is not None:
            raise _Abort("state_used", "this authorization was already completed")
        if state.expires_at <= now:
            raise _Abort("state_expired", "the authorization took too long; start again")
        self._check_session(state, now)
        # RFC 9207 §2.4: error responses name their issuer too; check it first.
        _check_issuer(
            state.data.get("issuer"),
            query.get("iss"),
            required=state.data.get("issuer_required") is not False,
        )
        provider_error = query.get("error")
        if provider_error:
            reason = provider_error if _SAFE_ERROR.match(provider_error) else "provider_error"
            raise _Abort(reason, "the provider did not grant access")
        provider = self._catalog().get(state.provider)
        code = query.get(_code_param(provider))
        if not code:
            raise _Abort("missing_code", "the provider sent no authorization code")
        secrets = self._sealer.open_json(
            state.data["sealed"],
            tenant_id=state.tenant_id,
            record_id=state.state_hash,
            purpose=STATE_PURPOSE,
        )
        existing: Connection | None = None
        connection_id = state.data.get("connection_id")
        if connection_id:
            existing = self._store.get_connection(state.tenant_id, connection_id)
            if existing is None:
                raise _Abort("connection_gone", "the connection was deleted meanwhile")
            config = dict(existing.config)
            credentials = payload_of(self._secrets, self._store, existing)[0]
        else:
            config = dict(state.data.get("config") or {})
            credentials = dict(secrets.get("credentials") or {})
        config.update(_copied(_auth_map(provider, "config_from_callback"), query))
        # The browser carries the callback's query: a copied value may only take the values
        # the catalog allows, before any secret is sent to a URL built from it.
        _check_copied_config(provider, config, "the callback")
        client = self._clients.client(provider, config, credentials)
        if not client.token_url:
            raise _Abort("invalid_callback", "the callback lacks what the token endpoint needs")
        try:
            tokens = self._endpoint().exchange_code(
                client,
                code=code,
                redirect_uri=state.redirect_uri,
                code_verifier=secrets.get("verifier"),
                now=now,
            )
        except TokenEndpointError as exc:
            raise _Abort(
                "token_exchange_failed", f"the provider refused the code ({exc.error})"
            ) from None
        except TetherError as exc:
            raise _Abort(
                "token_exchange_failed", f"the token request failed ({exc.code})"
            ) from None
        config.update(_copied(_auth_map(provider, "config_from_token_response"), tokens.extra))
        _check_copied_config(provider, config, "the token response")
        scopes = list(tokens.scopes) if tokens.scopes else list(state.data.get("scopes") or [])
        route = _proven_route(provider, client, tokens)
        if self._accounts is not None and _route_from(provider) == POST_CONNECT:
            learned = self._accounts().learn(
                provider, access_token=tokens.access_token, config=config, query=query
            )
            route = learned.route
            if learned.config:
                try:
                    validate_against_schema(
                        {**config, **learned.config}, provider.config_schema, section="config"
                    )
                    config.update(learned.config)
                except InvalidRequest:
                    # An account id the catalog does not expect: no route rather than no
                    # connection.
                    log.warning("the provider's account id is not one the catalog allows")
                    route = None
        connected = self._trail.entry(
            principal,
            connection_id or None,
            AuditAction.OAUTH_CONNECTED,
            provider=provider.key,
            reconnect=existing is not None,
            scopes=scopes,
        )
        grant = _Grant(
            config=config,
            credentials=credentials,
            tokens=tokens,
            scopes=scopes,
            route=route,
            connected=connected,
        )
        try:
            if existing is None:
                connection = self._create(state, principal, provider, grant)
            else:
                connection = self._reconnect(existing, grant)
        except Conflict as exc:
            if exc.code != ROUTE_TAKEN:
                log.warning("storing an OAuth connection failed: %s", exc.code)
                raise _Abort(
                    "storage_failed", "the connection could not be saved; try again"
                ) from None
            raise _Abort(
                "route_taken", "this account is already connected; remove that connection first"
            ) from None
        except TetherError as exc:
            log.warning("storing an OAuth connection failed: %s", exc.code)
            raise _Abort("storage_failed", "the connection could not be saved; try again") from None
        if self._events is not None:
            if existing is None:
                self._events.publish_quietly(ConnectionEvent.CREATED, connection)
            else:
                self._events.publish_quietly(
                    ConnectionEvent.RECONNECTED, connection, previous_status=existing.status.value
                )
        if self._on_tokens_stored is not None:
            try:
                self._on_tokens_stored(connection)
            except TetherError as exc:
                # The proactive refresh is a convenience; on-demand refresh and the sweep remain.
                log.warning("could not schedule the proactive refresh: %s", exc.code)
        return connection

    def _check_session(self, state: OAuthState, now: datetime) -> None:
        """A flow a connect session started completes only while that session lives: once
        the tenant ended it (or it expired, and with it the bearer's reach), nothing more is
        written for its end user."""
        session_id = state.data.get("session_id")
        if not session_id:
            return
        session = self._store.get_connect_session(str(session_id))
        if (
            session is None
            or session.tenant_id != state.tenant_id
            or session.revoked_at is not None
            or session.expires_at <= now
        ):
            raise _Abort("session_ended", "the connect session ended before the sign-in finished")

    def _create(
        self, state: OAuthState, principal: Principal, provider: Provider, grant: _Grant
    ) -> Connection:
        now = self._clock.now()
        connection_id = self._ids.new("conn")
        payload = dict(grant.credentials)
        if grant.tokens.refresh_token:
            payload[REFRESH_TOKEN_FIELD] = grant.tokens.refresh_token
        ref = self._secrets.put(
            tenant_id=state.tenant_id,
            connection_id=connection_id,
            provider=provider.key,
            payload=payload,
        )
        connection = Connection(
            id=connection_id,
            tenant_id=state.tenant_id,
            provider=provider.key,
            auth_mode=provider.auth_mode,
            display_name=str(state.data.get("display_name") or provider.display_name),
            end_user_id=state.data.get("end_user_id"),
            status=ConnectionStatus.ACTIVE,
            config=grant.config,
            metadata=dict(state.data.get("metadata") or {}),
            credential_ref=ref,
            credential_hints=credential_hints(grant.credentials, provider.credentials_schema),
            sealed_access_token=self._tokens.seal_access_token(
                tenant_id=state.tenant_id,
                connection_id=connection_id,
                token=grant.tokens.access_token,
            ),
            token_expires_at=grant.tokens.expires_at,
            token_refreshed_at=now,
            scopes=grant.scopes,
            webhook_route=grant.route,
            webhook=_webhook_of(state),
            created_at=now,
            updated_at=now,
            created_by=principal.user_id,
        )
        try:
            self._store.create_connection(
                connection,
                audit=[grant.connected.model_copy(update={"connection_id": connection_id})],
            )
        except BaseException:
            self._secrets.delete(tenant_id=state.tenant_id, connection_id=connection_id, ref=ref)
            raise
        return connection

    def _reconnect(self, existing: Connection, grant: _Grant) -> Connection:
        def attempt(again: bool) -> Connection:
            current = (
                self._store.get_connection(existing.tenant_id, existing.id) if again else existing
            )
            if current is None:
                raise _Abort("connection_gone", "the connection was deleted meanwhile")
            if current.status != ConnectionStatus.ACTIVE:
                check_transition(current.status, ConnectionStatus.ACTIVE)
            changed = current.model_copy(
                update={
                    "status": ConnectionStatus.ACTIVE,
                    "status_detail": None,
                    "refresh_failures": 0,
                    "config": grant.config,
                    "scopes": grant.scopes,
                    "webhook_route": grant.route,
                    "token_refreshed_at": self._clock.now(),
                }
            )
            return self._tokens.store_tokens(
                changed,
                access_token=grant.tokens.access_token,
                expires_at=grant.tokens.expires_at,
                refresh_token=grant.tokens.refresh_token,
                credentials=grant.credentials,
                audit=[grant.connected],
            )

        return compare_and_set(attempt, what="the connection")


def _webhook_of(state: OAuthState) -> WebhookInfo | None:
    """The webhook URL the start issued for the connection the callback creates."""
    issued = state.data.get("webhook")
    return WebhookInfo.model_validate(issued) if isinstance(issued, dict) else None


def _check_browser(state: OAuthState, cookies: Mapping[str, str]) -> None:
    """A flow bound to a browser completes only in that browser (its binding cookie)."""
    expected = state.data.get("binding")
    if not expected:
        return
    presented = cookies.get(browser_binding.cookie_name(state.state_hash))
    if not browser_binding.matches(str(expected), presented):
        raise _Abort(
            "browser_mismatch",
            "this sign-in was started in another browser; start it again here",
        )


def _check_issuer(expected: object, sent: str | None, *, required: bool = True) -> None:
    """RFC 9207 §2.4: when the provider's issuer is known, the response must name it; a
    missing ``iss`` is refused like a different one (a mix-up attacker can strip it), unless
    the server's discovered metadata says it sends none (``required`` off). A different
    ``iss`` is always refused."""
    if not expected:
        return
    if sent is None and not required:
        return
    if sent is None:
        raise _Abort("issuer_missing", "the answer did not name the provider that sent it")
    if sent != expected:
        raise _Abort("issuer_mismatch", "the answer came from an unexpected issuer")


def _abort_for(exc: TetherError) -> _Abort:
    """The redirect's ``error`` for a typed failure: its code in lower case; the message when
    it is the caller's to fix (a 4xx: messages never carry secrets), else a generic one."""
    code = exc.code.lower()
    error = code if _SAFE_ERROR.match(code) else "server_error"
    if exc.http_status < 500:
        return _Abort(error, exc.message)
    return _Abort(error, _SERVER_ERROR_MESSAGE)


def _code_param(provider: Provider) -> str:
    return str(getattr(provider.auth, "callback_code_param", "code"))


def _auth_map(provider: Provider, name: str) -> dict[str, str]:
    value = getattr(provider.auth, name, None)
    return dict(value) if isinstance(value, dict) else {}


def _check_copied_config(provider: Provider, config: Mapping[str, Any], source: str) -> None:
    try:
        validate_against_schema(config, provider.config_schema, section="config")
    except InvalidRequest:
        raise _Abort(
            "invalid_config", f"{source} named configuration the provider does not allow"
        ) from None


def _copied(mapping: Mapping[str, str], source: Mapping[str, Any]) -> dict[str, Any]:
    """Copy ``source[param]`` into ``config[property]`` for each ``param -> property``."""
    return {
        prop: source[param]
        for param, prop in mapping.items()
        if isinstance(source.get(param), str | int) and not isinstance(source.get(param), bool)
    }


def _route_from(provider: Provider) -> str | None:
    source = getattr(provider.auth, "webhook_route_from", None)
    return source if isinstance(source, str) else None


def _proven_route(provider: Provider, client: OAuthClient, tokens: TokenSet) -> str | None:
    """The connection's ``webhook_route``, from the provider's answer as the catalog's
    ``webhook_route_from`` says: a token-response field, or the host of the token endpoint
    the code was just redeemed at. ``None`` when the entry names no source or the answer
    lacks the value."""
    source = _route_from(provider)
    spec = provider.webhook
    if source is None or source == POST_CONNECT or spec is None:
        return None
    # Imported here: only providers with app-level webhook routes need them.
    from tether.webhooks.routing import field_value, normalize_route

    raw: object
    if source == "token_host":
        raw = urlsplit(client.token_url).hostname
    else:
        raw = field_value(source.removeprefix("token:"), {}, tokens.extra)
    route = normalize_route(spec, raw)
    if route is None:
        log.warning(
            "the provider's answer carried no webhook route (%s); its app-level events will "
            "not reach this connection",
            source,
            extra={"provider": provider.key},
        )
    return route

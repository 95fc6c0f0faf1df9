"""Keeping OAuth access tokens fresh: on demand when read, forced, and by the ``refresh`` task.

Two kinds of connection hold such tokens: an authorization-code grant (``oauth2``), whose
token is refreshed with its refresh token, and the modes whose token is issued from stored
credentials (client credentials, JWT bearer, ``two_step``: ``issue``, see
:mod:`tether.oauth.token_issuer`), whose token is issued again. Both go through the same
lease, commit, failure bookkeeping and audit entry; only refresh-token grants get proactive
refresh tasks (an issued token nobody reads needs no new one).

When a token's refresh is scheduled, and the sweep that repairs lost schedules, live in
:mod:`tether.oauth.refresh_schedule` (:attr:`TokenRefresh.schedule`); one refresh per
connection at a time in :mod:`tether.oauth.refresh_lease`; what a failed (or successful)
refresh does to the connection's status in :mod:`tether.oauth.refresh_failures`.

Reads
    :meth:`TokenRefresh.access_token` returns the stored access token while it is valid
    beyond the refresh margin and not past its keep-alive point (see
    :mod:`tether.oauth.refresh_policy`), without a single store write. Otherwise it
    refreshes first. A read whose refresh failed retryably still gets the stored token while
    it has not expired.

The refresh
    The credential payload (with the refresh token) is read *before* the provider is called,
    so that nothing but the commit is left once the provider has answered. The commit is
    :meth:`TokenStorage.store_tokens` on a copy of the record that already carries the success
    bookkeeping (``refresh_failures`` reset, ``token_refreshed_at``, ``error`` back to
    ``active``): access token, rotated refresh token and status land in one compare-and-set.
    Audit and the proactive refresh task come after the commit and never undo it. How the
    commit survives a failed write, and what a crash inside it loses, is
    :mod:`tether.oauth.refresh_commit`'s.

Tokens never appear in logs, errors or audit entries: audit details carry outcomes
(``rotated``, the expiry, reason codes).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.connections.credential_reads import REFRESH_TOKEN_FIELD, payload_of
from tether.connections.events import ConnectionEvents
from tether.domain.clock import Clock
from tether.domain.errors import (
    BackendUnavailable,
    Conflict,
    InvalidRequest,
    NotFound,
    TetherError,
)
from tether.domain.ids import IdGenerator
from tether.domain.models import Connection
from tether.domain.status import ConnectionStatus
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.refresh_commit import GrantReplaced, RefreshCommit
from tether.oauth.refresh_failures import (
    REFRESH_FAILED_CODE,
    ReauthRequired,
    RefreshFailures,
    reason_of,
    reauth_required,
)
from tether.oauth.refresh_lease import Flights, RefreshLease
from tether.oauth.refresh_policy import RefreshPolicy, is_due, newer_token
from tether.oauth.refresh_schedule import RefreshSchedule
from tether.oauth.token_storage import TokenStorage
from tether.ports import ConnectionRepository, LeaseStore, SecretStore, TaskQueue

__all__ = ["RefreshEndpoint", "RefreshRecords", "TokenRefresh"]

log = logging.getLogger("tether.tokens")

_OAUTH2 = "oauth2"
# Connections whose tokens this refreshes: a refresh-token grant, or issued again.
_TOKEN_MODES = frozenset({_OAUTH2, *ISSUED_TOKEN_MODES})

IssueToken = Callable[[Connection, Mapping[str, Any]], TokenSet]
"""A new token for a connection of an issued-token mode from its credential payload
(:meth:`tether.oauth.token_issuer.TokenIssuer.issue`)."""


class RefreshRecords(ConnectionRepository, LeaseStore, Protocol):
    """The record ports the refresh uses: connections (and their audit, written with them)
    and the refresh lease."""


@runtime_checkable
class RefreshEndpoint(Protocol):
    """What the refresh needs of :class:`tether.oauth.token_endpoint.TokenEndpoint`."""

    def refresh(
        self,
        client: OAuthClient,
        *,
        refresh_token: str,
        scopes: Sequence[str] | None = None,
        now: datetime,
    ) -> TokenSet:
        """Raises :class:`~tether.oauth.model.TokenEndpointError`."""
        ...


class TokenRefresh:
    """Refresh of OAuth access tokens; ``schedule`` holds the proactive refresh tasks and the
    sweep.

    ``endpoint`` is the token endpoint or a zero-argument factory of it (built on first
    use, so a warm read that needs no refresh never builds an HTTP client). ``client_for``
    resolves the provider client of a connection; ``policy_for`` its refresh timing
    (:func:`~tether.oauth.refresh_policy.catalog_refresh_policies`).
    ``repair_grace_seconds``: how long after its due time a token's scheduled refresh may
    still be on its way before the sweep adds a repair task. ``owner`` names
    this instance in refresh leases (default: random). ``wait_seconds`` bounds how long a
    caller waits for another instance's refresh (default: ``lease_seconds``); ``sleep`` and
    ``monotonic`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        store: RefreshRecords,
        secrets: SecretStore,
        token_storage: TokenStorage,
        endpoint: RefreshEndpoint | Callable[[], RefreshEndpoint],
        client_for: Callable[[Connection], OAuthClient],
        policy_for: Callable[[Connection], RefreshPolicy],
        tasks: Callable[[], TaskQueue],
        clock: Clock,
        ids: IdGenerator,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        retry_budget: int = 5,
        sweep_window_seconds: float = 900,
        sweep_page_size: int = 200,
        repair_grace_seconds: float = 60,
        events: ConnectionEvents | None = None,
        wait_seconds: float | None = None,
        poll_seconds: float = 0.05,
        issue: IssueToken | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_seconds <= 0 or retry_budget < 1 or poll_seconds <= 0:
            raise ValueError("lease, budget and poll interval must be positive")
        self._store = store
        self._secrets = secrets
        self._tokens = token_storage
        self._endpoint_source = endpoint
        self._endpoint_built: RefreshEndpoint | None = (
            endpoint if isinstance(endpoint, RefreshEndpoint) else None
        )
        self._client_for = client_for
        self._issue = issue
        self._policy_for = policy_for
        self._clock = clock
        self._ids = ids
        self.schedule = RefreshSchedule(
            store=store,
            tasks=tasks,
            clock=clock,
            policy_for=policy_for,
            sweep_window_seconds=sweep_window_seconds,
            sweep_page_size=sweep_page_size,
            repair_grace_seconds=repair_grace_seconds,
        )
        self._failures = RefreshFailures(
            store=store,
            clock=clock,
            ids=ids,
            events=events or ConnectionEvents(tasks),
            retry_budget=retry_budget,
        )
        wait = lease_seconds if wait_seconds is None else wait_seconds
        self._lease = RefreshLease(
            store=store,
            clock=clock,
            owner=owner or f"lifecycle-{uuid.uuid4().hex}",
            lease_seconds=lease_seconds,
            wait_seconds=wait,
            poll_seconds=poll_seconds,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._commit = RefreshCommit(
            store=store,
            secrets=secrets,
            token_storage=token_storage,
            failures=self._failures,
            clock=clock,
            ids=ids,
            sleep=sleep,
            backoff_seconds=poll_seconds,
        )
        self._flight_timeout = wait + lease_seconds
        self._flights = Flights()

    @property
    def owner(self) -> str:
        """This instance's name in refresh leases."""
        return self._lease.owner

    # -- public API -------------------------------------------------------------------------
    def access_token(self, connection: Connection) -> str:
        """A usable access token for ``connection``: the stored one while it is valid beyond
        the margin (no writes), else a refreshed one. :class:`ReauthRequired` when the user
        must reconnect; a retryable ``OAUTH_REFRESH_FAILED`` when the provider failed and the
        stored token has expired."""
        self._check_refreshable(connection)
        policy = self._policy_for(connection)
        if connection.sealed_access_token is not None and not self._due(connection, policy):
            token = self._tokens.access_token(connection)
            if token:
                return token
        try:
            refreshed = self._refresh(connection, force=False, trigger="read", actor=None)
        except TetherError as exc:
            if exc.code != REFRESH_FAILED_CODE or not exc.retryable:
                raise
            fallback = self._unexpired_token(connection)
            if fallback is None:
                raise
            log.warning(
                "refresh of %s failed (%s); serving the stored token until it expires",
                connection.id,
                exc.details.get("provider_error", exc.code),
            )
            return fallback
        token = self._tokens.access_token(refreshed)
        if not token:
            raise BackendUnavailable(
                "the connection has no access token; try again", code="NO_ACCESS_TOKEN"
            )
        return token

    def force_refresh(self, connection: Connection, *, actor: str | None = None) -> Connection:
        """``POST /connections/<id>/refresh``: a token newer than the one ``connection``
        holds (one stored by a concurrent refresh counts), and the stored record."""
        self._check_refreshable(connection)
        return self._refresh(connection, force=True, trigger="forced", actor=actor)

    def refresh_task(self, payload: Mapping[str, Any]) -> None:
        """Handler of task kind ``refresh`` (``{"tenant_id", "connection_id"[, "name"]
        [, "force"]}``; ``name`` is the task's own name).

        Idempotent: deleted, non-OAuth, pending and disabled connections and tokens not yet
        due are skipped (a token not yet due re-arms its schedule). A task that runs before
        its token is due *under its own name* (this instance's clock is behind the queue's)
        raises a retryable ``REFRESH_NOT_DUE`` instead: re-arming would collide with its own
        name and schedule nothing, so the queue brings it back. A retryable failure raises
        (the queue retries); ``needs_reauth`` is recorded and the task ends normally."""
        tenant_id, connection_id = _target(payload)
        record = self._store.get_connection(tenant_id, connection_id)
        if record is None or record.auth_mode != _OAUTH2:
            return
        if record.status == ConnectionStatus.NEEDS_REAUTH:
            self._failures.reannounce_needs_reauth(record)
            return
        if record.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
            return
        force = payload.get("force") is True
        if not force and not self._due(record, self._policy_for(record)):
            slot = self.schedule.slot(record, self._clock.now())
            if slot is not None and slot[0] == payload.get("name"):
                raise BackendUnavailable(
                    "the token is not due yet; the queue runs this task again",
                    code="REFRESH_NOT_DUE",
                )
            self._schedule_quietly(record)
            return
        try:
            self._refresh(record, force=force, trigger="task", actor=None)
        except ReauthRequired:
            # Make sure the tenant hears about it even if enqueueing failed on the way.
            latest = self._store.get_connection(tenant_id, connection_id)
            if latest is not None and latest.status == ConnectionStatus.NEEDS_REAUTH:
                self._failures.reannounce_needs_reauth(latest)

    # -- one refresh per connection ---------------------------------------------------------
    def _refresh(
        self, connection: Connection, *, force: bool, trigger: str, actor: str | None
    ) -> Connection:
        baseline = connection.sealed_access_token
        policy = self._policy_for(connection)

        def reread(record: Connection) -> Connection:
            current = self._reload(record)
            self._check_refreshable(current)
            return current

        def settled(current: Connection) -> bool:
            """``current`` already answers the request: not due (a plain read), or a newer
            unexpired token than the caller had (a forced refresh)."""
            if current.sealed_access_token is None:
                return False
            if force:
                return newer_token(current, baseline, now=self._clock.now())
            return not self._due(current, policy)

        def refresh_now(current: Connection, renew: Callable[[], None]) -> Connection:
            return self._refresh_now(
                current, renew=renew, force=force, trigger=trigger, actor=actor
            )

        return self._flights.share(
            f"{connection.tenant_id}:{connection.id}",
            lambda: self._lease.hold(connection, reread=reread, settled=settled, work=refresh_now),
            # A forced refresh that joined a flight which found the token fresh flies its own.
            accept=lambda result: not force or newer_token(result, baseline, now=self._clock.now()),
            timeout=self._flight_timeout,
        )

    def _refresh_now(
        self,
        current: Connection,
        *,
        renew: Callable[[], None],
        force: bool,
        trigger: str,
        actor: str | None,
    ) -> Connection:
        payload, current = self._credentials(current)
        issued = current.auth_mode in ISSUED_TOKEN_MODES
        try:
            if issued:
                tokens = self._issued(current, payload)
                refresh_token: object = None
            else:
                refresh_token = payload.get(REFRESH_TOKEN_FIELD)
                if not isinstance(refresh_token, str) or not refresh_token:
                    return self._failures.without_refresh_token(
                        current, force=force, trigger=trigger, actor=actor
                    )
                tokens = self._endpoint().refresh(
                    self._client_for(current), refresh_token=refresh_token, now=self._clock.now()
                )
        except TokenEndpointError as exc:
            self._failures.failed(current, exc, trigger=trigger, actor=actor)
        # From here until the commit, nothing but the commit (see tether.oauth.refresh_commit).
        rotated = bool(tokens.refresh_token) and tokens.refresh_token != refresh_token
        previous = current.status
        detail: dict[str, Any] = {
            "rotated": rotated,
            "expires_at": tokens.expires_at.isoformat(),
            "trigger": trigger,
        }
        if issued:
            detail["grant"] = current.auth_mode
        try:
            stored = self._commit.commit(
                current, tokens, payload, renew=renew, actor=actor, detail=detail
            )
        except GrantReplaced as replaced:
            # Reconnected, moved or given new credentials meanwhile: what is stored now wins.
            log.info("the grant of %s changed during its refresh; answer dropped", current.id)
            self._check_refreshable(replaced.record)
            return replaced.record
        self._failures.announce_recovered(stored, previous)
        if not issued:  # an issued token is issued again when read; nothing to keep alive
            self._schedule_quietly(stored)
        return stored

    def _issued(self, connection: Connection, payload: Mapping[str, Any]) -> TokenSet:
        """A new token from the stored credentials; never a refresh token (none is kept)."""
        if self._issue is None:
            raise InvalidRequest(
                "this instance cannot issue tokens from stored credentials",
                code="NOT_OAUTH_CONNECTION",
            )
        tokens = self._issue(connection, payload)
        if tokens.refresh_token is None:
            return tokens
        return TokenSet(
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
            scopes=tokens.scopes,
            token_type=tokens.token_type,
            extra=tokens.extra,
        )

    # -- helpers ----------------------------------------------------------------------------
    def _endpoint(self) -> RefreshEndpoint:
        if self._endpoint_built is None:
            source = self._endpoint_source
            assert not isinstance(source, RefreshEndpoint)
            self._endpoint_built = source()
        return self._endpoint_built

    def _check_refreshable(self, connection: Connection) -> None:
        if connection.auth_mode not in _TOKEN_MODES:
            raise InvalidRequest(
                "this connection does not use OAuth2 tokens", code="NOT_OAUTH_CONNECTION"
            )
        if connection.deleted_at is not None:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            detail = connection.status_detail
            raise reauth_required(reason_of(detail.code) if detail else "unknown")
        if connection.status not in (ConnectionStatus.ACTIVE, ConnectionStatus.ERROR):
            raise Conflict(
                f"the connection is {connection.status.value}; it has no token to refresh",
                code="CONNECTION_NOT_ACTIVE",
            )

    def _due(self, connection: Connection, policy: RefreshPolicy) -> bool:
        return is_due(
            policy,
            issued_at=connection.token_refreshed_at,
            expires_at=connection.token_expires_at,
            now=self._clock.now(),
        )

    def _unexpired_token(self, connection: Connection) -> str | None:
        latest = self._store.get_connection(connection.tenant_id, connection.id)
        if latest is None or latest.token_expires_at is None:
            return None
        return self._tokens.unexpired_access_token(latest)

    def _reload(self, connection: Connection) -> Connection:
        fresh = self._store.get_connection(connection.tenant_id, connection.id)
        if fresh is None:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        return fresh

    def _credentials(self, connection: Connection) -> tuple[dict[str, Any], Connection]:
        return payload_of(self._secrets, self._store, connection)

    def _schedule_quietly(self, connection: Connection) -> None:
        try:
            self.schedule.schedule_refresh(connection)
        except TetherError as exc:
            # A convenience: on-demand refresh and the sweep remain.
            log.warning("could not schedule the refresh of %s (%s)", connection.id, exc.code)


def _target(payload: Mapping[str, Any]) -> tuple[str, str]:
    tenant_id, connection_id = payload.get("tenant_id"), payload.get("connection_id")
    if not isinstance(tenant_id, str) or not isinstance(connection_id, str):
        raise InvalidRequest("a refresh task needs tenant_id and connection_id")
    return tenant_id, connection_id

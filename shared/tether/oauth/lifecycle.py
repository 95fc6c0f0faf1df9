"""Keeping OAuth connections alive: on-demand and task-driven refresh, failures, revocation.

When a token's refresh is scheduled, and the sweep that repairs lost schedules, live in
:mod:`tether.oauth.refresh_schedule` (:attr:`TokenLifecycle.schedule`).

Reads
    :meth:`TokenLifecycle.access_token` returns the stored access token while it is valid
    beyond the refresh margin and not past its keep-alive point (see
    :mod:`tether.oauth.refresh_policy`), without a single store write. Otherwise it
    refreshes first.

One refresh per connection at a time
    Within a process, concurrent callers for one connection share one flight (a future per
    connection): twenty threads reading an expired token cause one call to the token
    endpoint, and all of them get its outcome. Across instances the flight leader takes the
    store lease ``refresh:<tenant>:<connection>``, re-reads the record once it holds it, and
    does not call the provider when someone else already stored a fresh token. When another
    instance holds the lease, the leader polls the record (short, growing sleeps, bounded by
    ``wait_seconds``) until that instance's token shows up and uses it. The lease is released
    in a ``finally``; a dead holder's lease expires after ``lease_seconds``.

The refresh
    The credential payload (with the refresh token) is read *before* the provider is called,
    so that nothing but the commit is left once the provider has answered. The commit is
    :meth:`TokenStorage.store_tokens` on a copy of the record that already carries the success
    bookkeeping (``refresh_failures`` reset, ``token_refreshed_at``, ``error`` back to
    ``active``): access token, rotated refresh token and status land in one compare-and-set.
    Audit and the proactive refresh task come after the commit and never undo it.

Crash window
    A provider that rotates refresh tokens kills the old one when it answers, so the answer
    must reach durable storage before anything else happens. The design:

    * No I/O between the provider's answer and the commit except the commit itself: with the
      database secret backend the sealed payload lives on the record, so the commit is one
      atomic record write carrying both tokens; with Secret Manager it is one version add
      followed by the record write (``put → record CAS → retire``).
    * Failures of the commit that leave the process alive are retried on a re-read record
      while the lease is held (and renewed): a lost compare-and-set, or a retryable backend
      error, up to ``_WRITE_ATTEMPTS`` times with short back-off. The provider is never
      called twice for one lease, and the merge uses the re-read credential payload. When
      every attempt fails the caller gets a retryable ``OAUTH_REFRESH_NOT_SAVED`` and the
      token set is dropped: the same outcome as a crash, below.
    * A process that dies inside that window (milliseconds: one or two writes) loses a
      rotated refresh token: the record still names the old one. There is no recovery from
      that through the current ports (finding an unreferenced newer secret version would need
      a version listing; holding the answer in a pending record would need a new store
      record). The outcome is made loud instead of silent: the next refresh presents the old
      token, the provider answers ``invalid_grant``, and the connection goes to
      ``needs_reauth`` with one audit entry and one ``connection.needs_reauth`` event.
      A provider that does not rotate loses nothing (the old refresh token still works), and
      a rotating provider with a reuse grace period lets the next refresh succeed.

Failures
    ``invalid_grant`` (and a missing refresh token once the access token has expired) moves
    the connection to ``needs_reauth``: one audit entry by the writer that made the
    transition, and one ``connection.needs_reauth`` event through the lifecycle publisher
    (:mod:`tether.connections.events`). Retryable failures (network, timeouts, 5xx,
    429, ``temporarily_unavailable``) count ``refresh_failures`` and raise a retryable
    ``OAUTH_REFRESH_FAILED``; the connection stays ``active`` until the count reaches the
    retry budget, then goes to ``error`` (a later successful refresh brings it back and
    announces ``connection.recovered``). Other provider refusals (``invalid_client``,
    ``unauthorized_client``, ``invalid_scope``…) cannot be fixed by retrying nor by the user
    reconnecting alone: the connection goes to ``error`` at once and the error raised is not
    retryable. A read whose refresh failed retryably still gets the stored token while it has
    not expired.

Tokens never appear in logs, errors or audit entries: audit details carry outcomes
(``rotated``, the expiry, reason codes).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any, NoReturn, Protocol, runtime_checkable

from tether.connections.credential_reads import payload_of
from tether.connections.events import ConnectionEvent, ConnectionEvents
from tether.delivery.publisher import DELIVER_TASK
from tether.domain.clock import Clock
from tether.domain.compare_and_set import Contended, compare_and_set
from tether.domain.errors import (
    BackendUnavailable,
    Conflict,
    InvalidRequest,
    NotFound,
    TetherError,
    VersionConflict,
)
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, AuditEvent, Connection, StatusDetail
from tether.domain.status import ConnectionStatus, check_transition
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.refresh_policy import (
    RefreshPolicy,
    is_due,
)
from tether.oauth.refresh_schedule import REFRESH_TASK, SWEEP_TASK, RefreshSchedule
from tether.oauth.token_storage import REFRESH_TOKEN_FIELD, TokenStorage
from tether.ports import AuditLog, ConnectionRepository, LeaseStore, SecretStore, TaskQueue

__all__ = [
    "DELIVER_TASK",
    "NEEDS_REAUTH_EVENT",
    "REFRESH_FAILED_CODE",
    "REFRESH_TASK",
    "SWEEP_TASK",
    "ReauthRequired",
    "RefreshEndpoint",
    "TokenLifecycle",
]


class LifecycleRecords(ConnectionRepository, AuditLog, LeaseStore, Protocol):
    """The record ports the token lifecycle uses: connections, their audit trail, the
    refresh lease."""


log = logging.getLogger("tether.tokens")

NEEDS_REAUTH_EVENT = ConnectionEvent.NEEDS_REAUTH.value
REFRESH_FAILED_CODE = "OAUTH_REFRESH_FAILED"
NO_REFRESH_TOKEN_CODE = "OAUTH_NO_REFRESH_TOKEN"  # noqa: S105 - an error code
SYSTEM_ACTOR = "system:token-lifecycle"

_OAUTH2 = "oauth2"
# Provider answers that mean the grant is gone for good: only the user can fix it.
_REAUTH_ERRORS = frozenset({"invalid_grant"})
# Status details this service writes all carry codes with this prefix.
_OWN_DETAIL_PREFIX = "OAUTH_"
_SAFE_REASON = re.compile(r"^[a-z0-9_]{1,64}$")
_REAUTH_MESSAGE = "the provider no longer accepts this connection's authorization; reconnect it"
_WRITE_ATTEMPTS = 5
_MAX_POLL_SECONDS = 0.5
_MAX_WRITE_BACKOFF_SECONDS = 1.0


class ReauthRequired(Conflict):
    """The connection needs the user to authorize it again (status ``needs_reauth``)."""

    default_code = "CONNECTION_NEEDS_REAUTH"


@runtime_checkable
class RefreshEndpoint(Protocol):
    """What the lifecycle needs of :class:`tether.oauth.token_endpoint.TokenEndpoint`."""

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

    def revoke(
        self, client: OAuthClient, *, token: str, token_type_hint: str | None = None
    ) -> None: ...


class _Flights:
    """One in-process flight per connection; followers share the leader's outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Future[Connection]] = {}

    def join(self, key: str) -> tuple[Future[Connection], bool]:
        """The running flight of ``key`` and ``False``, or a new one and ``True`` (lead it)."""
        with self._lock:
            flight = self._running.get(key)
            if flight is not None:
                return flight, False
            flight = Future()
            self._running[key] = flight
            return flight, True

    def _close(self, key: str, flight: Future[Connection]) -> None:
        # Removed before the outcome is set: a follower that wants another flight never finds
        # this finished one again.
        with self._lock:
            if self._running.get(key) is flight:
                del self._running[key]

    def succeed(self, key: str, flight: Future[Connection], result: Connection) -> None:
        self._close(key, flight)
        flight.set_result(result)

    def fail(self, key: str, flight: Future[Connection], error: BaseException) -> None:
        self._close(key, flight)
        flight.set_exception(error)


class TokenLifecycle:
    """Refresh, failure bookkeeping and revocation of OAuth tokens; ``schedule`` holds the
    proactive refresh tasks and the sweep.

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
        store: LifecycleRecords,
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
        self._policy_for = policy_for
        self._tasks = tasks
        self._clock = clock
        self._ids = ids
        self.owner = owner or f"lifecycle-{uuid.uuid4().hex}"
        self._lease_seconds = lease_seconds
        self._retry_budget = retry_budget
        self.schedule = RefreshSchedule(
            store=store,
            tasks=tasks,
            clock=clock,
            policy_for=policy_for,
            sweep_window_seconds=sweep_window_seconds,
            sweep_page_size=sweep_page_size,
            repair_grace_seconds=repair_grace_seconds,
        )
        self._events = events or ConnectionEvents(tasks)
        self._wait_seconds = lease_seconds if wait_seconds is None else wait_seconds
        self._poll_seconds = poll_seconds
        self._sleep = sleep
        self._monotonic = monotonic
        self._flights = _Flights()

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
            self._reannounce_needs_reauth(record)
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
                self._reannounce_needs_reauth(latest)

    def revoke(self, connection: Connection, *, actor: str | None = None) -> None:
        """Revoke the refresh token and the access token at the provider (RFC 7009), when
        it has a revocation endpoint. Best effort for connection delete: a failure is
        audited (``token.revocation_failed`` with a reason code) and never raised."""
        if connection.auth_mode != _OAUTH2:
            return
        revoked: list[str] = []
        failed: list[str] = []
        reason: str | None = None
        try:
            client = self._client_for(connection)
            if not client.revocation_url:
                return
            payload, connection = self._credentials(connection)
            tokens: list[tuple[str, Callable[[], object]]] = [
                ("refresh_token", lambda: payload.get(REFRESH_TOKEN_FIELD)),
                ("access_token", lambda: self._unexpired_stored_token(connection)),
            ]
            for hint, read in tokens:
                try:
                    token = read()
                    if not isinstance(token, str) or not token:
                        continue
                    self._endpoint().revoke(client, token=token, token_type_hint=hint)
                except TokenEndpointError as exc:
                    failed.append(hint)
                    reason = reason or _safe_reason(exc.error)
                except TetherError as exc:
                    failed.append(hint)
                    reason = reason or _safe_reason(exc.code.lower())
                else:
                    revoked.append(hint)
        except TetherError as exc:
            reason = _safe_reason(exc.code.lower())
        except Exception:
            log.exception("revoking the tokens of %s failed unexpectedly", connection.id)
            reason = "unexpected_error"
        if reason is None and not revoked:
            return
        if reason is None:
            self._audit_quietly(connection, AuditAction.TOKEN_REVOKED, actor, tokens=revoked)
        else:
            log.warning("token revocation for %s failed (%s)", connection.id, reason)
            self._audit_quietly(
                connection,
                AuditAction.TOKEN_REVOCATION_FAILED,
                actor,
                reason=reason,
                revoked=revoked,
                failed=failed,
            )

    # -- one refresh per connection ---------------------------------------------------------
    def _refresh(
        self, connection: Connection, *, force: bool, trigger: str, actor: str | None
    ) -> Connection:
        key = f"{connection.tenant_id}:{connection.id}"
        baseline = connection.sealed_access_token
        while True:
            flight, leader = self._flights.join(key)
            if leader:
                try:
                    result = self._refresh_leased(
                        connection, baseline=baseline, force=force, trigger=trigger, actor=actor
                    )
                except BaseException as exc:
                    self._flights.fail(key, flight, exc)
                    raise
                self._flights.succeed(key, flight, result)
                return result
            try:
                result = flight.result(timeout=self._wait_seconds + self._lease_seconds)
            except TimeoutError:
                raise _in_progress() from None
            if not force or self._newer_token(result, baseline):
                return result
            # A forced refresh joined a flight that found the token fresh: fly its own.

    def _refresh_leased(
        self,
        connection: Connection,
        *,
        baseline: str | None,
        force: bool,
        trigger: str,
        actor: str | None,
    ) -> Connection:
        current = self._reload(connection)
        self._check_refreshable(current)
        policy = self._policy_for(current)
        if self._satisfied(current, policy, baseline=baseline, force=force):
            return current
        lease = f"refresh:{current.tenant_id}:{current.id}"
        deadline = self._monotonic() + self._wait_seconds
        delay = self._poll_seconds
        while not self._acquire(lease):
            # Another instance is refreshing: wait for its token rather than call again.
            if self._monotonic() >= deadline:
                raise _in_progress()
            self._sleep(delay)
            delay = min(delay * 2, _MAX_POLL_SECONDS)
            current = self._reload(current)
            self._check_refreshable(current)
            if self._satisfied(current, policy, baseline=baseline, force=force):
                return current
        try:
            # The record as the previous holder left it: maybe already refreshed.
            current = self._reload(current)
            self._check_refreshable(current)
            if self._satisfied(current, policy, baseline=baseline, force=force):
                return current
            return self._refresh_now(
                current, lease=lease, force=force, trigger=trigger, actor=actor
            )
        finally:
            self._release(lease)

    def _refresh_now(
        self, current: Connection, *, lease: str, force: bool, trigger: str, actor: str | None
    ) -> Connection:
        payload, current = self._credentials(current)
        refresh_token = payload.get(REFRESH_TOKEN_FIELD)
        if not isinstance(refresh_token, str) or not refresh_token:
            return self._without_refresh_token(current, force=force, trigger=trigger, actor=actor)
        client = self._client_for(current)
        try:
            tokens = self._endpoint().refresh(
                client, refresh_token=refresh_token, now=self._clock.now()
            )
        except TokenEndpointError as exc:
            self._refresh_failed(current, exc, trigger=trigger, actor=actor)
        # From here until the commit, nothing but the commit: see "Crash window" above.
        rotated = bool(tokens.refresh_token) and tokens.refresh_token != refresh_token
        previous = current.status
        detail: dict[str, Any] = {
            "rotated": rotated,
            "expires_at": tokens.expires_at.isoformat(),
            "trigger": trigger,
        }
        stored = self._commit(current, tokens, payload, lease=lease, actor=actor, detail=detail)
        if stored.status == ConnectionStatus.ACTIVE and previous != ConnectionStatus.ACTIVE:
            self._events.publish_quietly(
                ConnectionEvent.RECOVERED, stored, previous_status=previous.value
            )
        self._schedule_quietly(stored)
        return stored

    def _commit(
        self,
        current: Connection,
        tokens: TokenSet,
        payload: dict[str, Any],
        *,
        lease: str,
        actor: str | None,
        detail: dict[str, Any],
    ) -> Connection:
        """Store the token set with its audit entry, retrying on a re-read record: these
        tokens exist nowhere else and the provider may already have retired the refresh token
        they replace."""
        last: TetherError | None = None
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                if attempt:
                    self._renew(lease)
                    current, payload = self._reread_for_commit(current, payload)
                changed = self._succeeded(current, tokens)
                recovered = (
                    {"recovered_from": current.status.value}
                    if changed.status != current.status
                    else {}
                )
                refreshed = self._entry(
                    changed, AuditAction.TOKEN_REFRESHED, actor, **detail, **recovered
                )
                return self._tokens.store_tokens(
                    changed,
                    access_token=tokens.access_token,
                    expires_at=tokens.expires_at,
                    refresh_token=tokens.refresh_token,
                    credentials=payload,
                    audit=[refreshed],
                )
            except VersionConflict as exc:
                last = exc
            except TetherError as exc:
                if not exc.retryable:
                    raise
                last = exc
                log.warning(
                    "storing the refreshed token of %s failed (%s); retrying", current.id, exc.code
                )
                self._sleep(min(self._poll_seconds * 2**attempt, _MAX_WRITE_BACKOFF_SECONDS))
        log.error("the refreshed token of %s could not be stored", current.id)
        raise BackendUnavailable(
            "the refreshed token could not be saved; try again", code="OAUTH_REFRESH_NOT_SAVED"
        ) from last

    def _reread_for_commit(
        self, current: Connection, payload: dict[str, Any]
    ) -> tuple[Connection, dict[str, Any]]:
        fresh = self._store.get_connection(current.tenant_id, current.id)
        if fresh is None:
            raise NotFound(
                "the connection was deleted while its token was refreshed",
                code="CONNECTION_NOT_FOUND",
            )
        if fresh.credential_ref == current.credential_ref:
            return fresh, payload
        # The credentials changed meanwhile (a new client secret…): merge into those.
        payload, fresh = self._credentials(fresh)
        return fresh, payload

    def _succeeded(self, current: Connection, tokens: TokenSet) -> Connection:
        now = self._clock.now()
        update: dict[str, Any] = {
            "refresh_failures": 0,
            "token_refreshed_at": now,
            "updated_at": now,
        }
        if tokens.scopes is not None:
            update["scopes"] = list(tokens.scopes)
        if _recoverable(current):
            check_transition(current.status, ConnectionStatus.ACTIVE)
            update["status"] = ConnectionStatus.ACTIVE
            update["status_detail"] = None
        return current.model_copy(update=update)

    # -- failures ---------------------------------------------------------------------------
    def _refresh_failed(
        self, current: Connection, exc: TokenEndpointError, *, trigger: str, actor: str | None
    ) -> NoReturn:
        reason = _safe_reason(exc.error)
        if exc.error in _REAUTH_ERRORS:
            self._mark_needs_reauth(current, code=exc.code, trigger=trigger, actor=actor)
            raise ReauthRequired(_REAUTH_MESSAGE, details={"reason": reason}) from exc
        stored = self._record_failure(current, exc, trigger=trigger, actor=actor)
        details: dict[str, Any] = {"provider_error": reason}
        if stored is not None:
            details["failures"] = stored.refresh_failures
        if exc.retry_after_seconds is not None:
            details["retry_after_seconds"] = exc.retry_after_seconds
        if exc.retryable:
            raise BackendUnavailable(
                "the provider could not refresh the token; try again later",
                code=REFRESH_FAILED_CODE,
                details=details,
            ) from exc
        raise TetherError(
            f"the provider refused to refresh the token ({reason})",
            code=REFRESH_FAILED_CODE,
            http_status=502,
            retryable=False,
            details=details,
        ) from exc

    def _record_failure(
        self, current: Connection, exc: TokenEndpointError, *, trigger: str, actor: str | None
    ) -> Connection | None:
        """Count the failure (compare-and-set with re-read); ``error`` once the budget is
        spent, or at once for a refusal retrying cannot fix. ``None`` when moot."""
        reason = _safe_reason(exc.error)
        baseline = current.sealed_access_token

        def attempt(again: bool) -> Connection | None:
            record = self._store.get_connection(current.tenant_id, current.id) if again else current
            if record is None or (again and self._newer_token(record, baseline)):
                return None  # deleted, or refreshed by someone else: nothing to count
            now = self._clock.now()
            failures = record.refresh_failures + 1
            update: dict[str, Any] = {"refresh_failures": failures, "updated_at": now}
            to_error = not exc.retryable or failures >= self._retry_budget
            if to_error and record.status == ConnectionStatus.ACTIVE:
                check_transition(record.status, ConnectionStatus.ERROR)
                update["status"] = ConnectionStatus.ERROR
                update["status_detail"] = StatusDetail(
                    code=REFRESH_FAILED_CODE if exc.retryable else exc.code,
                    message=(
                        f"the provider failed to refresh the token {failures} times in a row"
                        if exc.retryable
                        else f"the provider refused to refresh the token ({reason})"
                    ),
                    at=now,
                )
            changed = record.model_copy(update=update)
            failed = self._entry(
                changed,
                AuditAction.TOKEN_REFRESH_FAILED,
                actor,
                error=reason,
                retryable=exc.retryable,
                failures=changed.refresh_failures,
                status=changed.status.value,
                trigger=trigger,
            )
            return self._store.update_connection(
                changed, expected_version=record.version, audit=[failed]
            )

        try:
            stored = compare_and_set(attempt, what="the connection")
        except Contended:
            log.warning("could not record a refresh failure of %s (contended)", current.id)
            return None
        if stored is None:
            return None
        log.warning(
            "refresh of %s failed (%s, retryable=%s, failures=%d)",
            stored.id,
            reason,
            exc.retryable,
            stored.refresh_failures,
        )
        return stored

    def _without_refresh_token(
        self, current: Connection, *, force: bool, trigger: str, actor: str | None
    ) -> Connection:
        """No refresh token stored: the access token serves until it expires; then only the
        user can help."""
        expires_at = current.token_expires_at
        if expires_at is None or expires_at <= self._clock.now():
            self._mark_needs_reauth(
                current, code=NO_REFRESH_TOKEN_CODE, trigger=trigger, actor=actor
            )
            raise ReauthRequired(_REAUTH_MESSAGE, details={"reason": "no_refresh_token"})
        if force:
            raise Conflict(
                "this connection has no refresh token; its access token cannot be refreshed",
                code=NO_REFRESH_TOKEN_CODE,
            )
        return current

    def _mark_needs_reauth(
        self, current: Connection, *, code: str, trigger: str, actor: str | None
    ) -> None:
        """Move to ``needs_reauth``; the writer of the transition audits it once and
        announces it with a named event task."""
        baseline = current.sealed_access_token

        def attempt(again: bool) -> Connection | None:
            record = self._store.get_connection(current.tenant_id, current.id) if again else current
            if record is None or (again and self._newer_token(record, baseline)):
                return None
            if record.status == ConnectionStatus.NEEDS_REAUTH:
                return None  # someone else recorded it
            try:
                check_transition(record.status, ConnectionStatus.NEEDS_REAUTH)
            except Conflict:
                return None  # disabled meanwhile
            now = self._clock.now()
            changed = record.model_copy(
                update={
                    "status": ConnectionStatus.NEEDS_REAUTH,
                    "status_detail": StatusDetail(code=code, message=_REAUTH_MESSAGE, at=now),
                    "updated_at": now,
                }
            )
            marked = self._entry(
                changed, AuditAction.NEEDS_REAUTH, actor, reason=_reason_of(code), trigger=trigger
            )
            return self._store.update_connection(
                changed, expected_version=record.version, audit=[marked]
            )

        stored = compare_and_set(attempt, what="the connection")
        if stored is None:
            return
        log.warning("connection %s needs reauthorization (%s)", stored.id, code)
        try:
            self._announce_needs_reauth(stored)
        except TetherError as exc:
            # A refresh task re-announces (same event id, so never twice) before it finishes.
            log.warning("could not enqueue the needs_reauth event of %s (%s)", stored.id, exc.code)

    def _announce_needs_reauth(self, connection: Connection) -> bool:
        """``connection`` is the record the transition stored: the event id is derived from
        its version, so each transition is one event."""
        detail = connection.status_detail
        reason = _reason_of(detail.code) if detail is not None else "unknown"
        return self._events.publish(ConnectionEvent.NEEDS_REAUTH, connection, reason=reason)

    def _reannounce_needs_reauth(self, record: Connection) -> None:
        """Announce again in case the enqueue failed when the transition was stored; only
        while ``record`` is still that write (its ``updated_at`` is the transition's time),
        else its version names another occurrence and the tenant would hear it twice."""
        detail = record.status_detail
        if detail is None or detail.at != record.updated_at:
            return
        self._announce_needs_reauth(record)

    # -- helpers ----------------------------------------------------------------------------
    def _endpoint(self) -> RefreshEndpoint:
        if self._endpoint_built is None:
            source = self._endpoint_source
            assert not isinstance(source, RefreshEndpoint)
            self._endpoint_built = source()
        return self._endpoint_built

    def _check_refreshable(self, connection: Connection) -> None:
        if connection.auth_mode != _OAUTH2:
            raise InvalidRequest(
                "this connection does not use OAuth2 tokens", code="NOT_OAUTH_CONNECTION"
            )
        if connection.deleted_at is not None:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            raise ReauthRequired(
                _REAUTH_MESSAGE,
                details={
                    "reason": _reason_of(connection.status_detail.code)
                    if connection.status_detail
                    else "unknown"
                },
            )
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

    def _satisfied(
        self, current: Connection, policy: RefreshPolicy, *, baseline: str | None, force: bool
    ) -> bool:
        """Whether ``current`` already answers the request: not due (a plain read), or a
        newer unexpired token than the caller had (a forced refresh)."""
        if current.sealed_access_token is None:
            return False
        if force:
            return self._newer_token(current, baseline)
        return not self._due(current, policy)

    def _newer_token(self, record: Connection, baseline: str | None) -> bool:
        if record.sealed_access_token is None or record.sealed_access_token == baseline:
            return False
        expires_at = record.token_expires_at
        return expires_at is None or expires_at > self._clock.now()

    def _unexpired_stored_token(self, connection: Connection) -> str | None:
        expires_at = connection.token_expires_at
        if expires_at is not None and expires_at <= self._clock.now():
            return None
        return self._tokens.access_token(connection)

    def _unexpired_token(self, connection: Connection) -> str | None:
        latest = self._store.get_connection(connection.tenant_id, connection.id)
        if latest is None or latest.token_expires_at is None:
            return None
        return self._unexpired_stored_token(latest)

    def _reload(self, connection: Connection) -> Connection:
        fresh = self._store.get_connection(connection.tenant_id, connection.id)
        if fresh is None:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        return fresh

    def _credentials(self, connection: Connection) -> tuple[dict[str, Any], Connection]:
        return payload_of(self._secrets, self._store, connection)

    def _acquire(self, lease: str) -> bool:
        taken = self._store.acquire_lease(
            lease, self.owner, ttl_seconds=self._lease_seconds, now=self._clock.now()
        )
        return taken is not None

    def _renew(self, lease: str) -> None:
        try:
            if not self._acquire(lease):
                log.warning("refresh lease %s expired and was taken over", lease)
        except TetherError as exc:
            log.warning("could not renew refresh lease %s (%s)", lease, exc.code)

    def _release(self, lease: str) -> None:
        try:
            self._store.release_lease(lease, self.owner)
        except TetherError as exc:
            log.warning("could not release refresh lease %s (%s); it expires", lease, exc.code)

    def _schedule_quietly(self, connection: Connection) -> None:
        try:
            self.schedule.schedule_refresh(connection)
        except TetherError as exc:
            # A convenience: on-demand refresh and the sweep remain.
            log.warning("could not schedule the refresh of %s (%s)", connection.id, exc.code)

    def _entry(
        self, connection: Connection, action: AuditAction, actor: str | None, **detail: Any
    ) -> AuditEvent:
        """An entry about ``connection``: committed with the write it records, or alone by
        :meth:`_audit_quietly` for what changes no record (a revocation at the provider)."""
        return AuditEvent(
            id=self._ids.new("aud"),
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            action=action.value,
            actor=actor or SYSTEM_ACTOR,
            at=self._clock.now(),
            detail=detail,
        )

    def _audit_quietly(
        self, connection: Connection, action: AuditAction, actor: str | None, **detail: Any
    ) -> None:
        try:
            self._store.append_audit(self._entry(connection, action, actor, **detail))
        except TetherError as exc:
            log.warning("could not audit %s of %s (%s)", action.value, connection.id, exc.code)


def _target(payload: Mapping[str, Any]) -> tuple[str, str]:
    tenant_id, connection_id = payload.get("tenant_id"), payload.get("connection_id")
    if not isinstance(tenant_id, str) or not isinstance(connection_id, str):
        raise InvalidRequest("a refresh task needs tenant_id and connection_id")
    return tenant_id, connection_id


def _recoverable(connection: Connection) -> bool:
    """``error`` set by refresh failures, or ``needs_reauth`` (a working grant disproves it)."""
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        return True
    if connection.status != ConnectionStatus.ERROR:
        return False
    detail = connection.status_detail
    own = detail is not None and detail.code.startswith(_OWN_DETAIL_PREFIX)
    return own or connection.refresh_failures > 0


def _safe_reason(value: str) -> str:
    return value if _SAFE_REASON.match(value) else "provider_error"


def _reason_of(code: str) -> str:
    """``OAUTH_INVALID_GRANT`` → ``invalid_grant``."""
    return _safe_reason(code.removeprefix(_OWN_DETAIL_PREFIX).lower())


def _in_progress() -> BackendUnavailable:
    return BackendUnavailable(
        "the token is being refreshed elsewhere; try again", code="OAUTH_REFRESH_IN_PROGRESS"
    )

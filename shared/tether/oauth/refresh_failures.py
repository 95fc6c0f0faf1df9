"""What a refresh's outcome does to a connection's status: failures counted, ``needs_reauth``,
``error``, and the way back to ``active``.

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
retryable.

A failure is counted on a re-read record (compare-and-set) and not at all once someone else
stored a newer token meanwhile: that refresh succeeded, and its count stands.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from tether.connections.events import ConnectionEvent, ConnectionEvents
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.compare_and_set import Contended, compare_and_set
from tether.domain.errors import BackendUnavailable, Conflict, TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, AuditEvent, Connection, Principal, StatusDetail
from tether.domain.status import ConnectionStatus, check_transition
from tether.oauth.model import SYSTEM_ACTOR, TokenEndpointError, TokenSet, reason_code
from tether.oauth.refresh_policy import newer_token
from tether.ports import ConnectionRepository

__all__ = [
    "NEEDS_REAUTH_EVENT",
    "NO_REFRESH_TOKEN_CODE",
    "REFRESH_FAILED_CODE",
    "ReauthRequired",
    "RefreshFailures",
    "reason_of",
    "reauth_required",
]

log = logging.getLogger("tether.tokens")

NEEDS_REAUTH_EVENT = ConnectionEvent.NEEDS_REAUTH.value
REFRESH_FAILED_CODE = "OAUTH_REFRESH_FAILED"
NO_REFRESH_TOKEN_CODE = "OAUTH_NO_REFRESH_TOKEN"  # noqa: S105 - an error code

# Provider answers that mean the grant is gone for good: only the user can fix it.
_REAUTH_ERRORS = frozenset({"invalid_grant"})
# Status details the token services write all carry codes with this prefix.
_OWN_DETAIL_PREFIX = "OAUTH_"
_REAUTH_MESSAGE = "the provider no longer accepts this connection's authorization; reconnect it"


class ReauthRequired(Conflict):
    """The connection needs the user to authorize it again (status ``needs_reauth``)."""

    default_code = "CONNECTION_NEEDS_REAUTH"


def reauth_required(reason: str) -> ReauthRequired:
    return ReauthRequired(_REAUTH_MESSAGE, details={"reason": reason})


def reason_of(code: str) -> str:
    """``OAUTH_INVALID_GRANT`` → ``invalid_grant``."""
    return reason_code(code.removeprefix(_OWN_DETAIL_PREFIX).lower())


class RefreshFailures:
    """The status bookkeeping of refreshes: failures (counted against ``retry_budget``),
    ``needs_reauth`` and its event, and success (the count reset, ``active`` again)."""

    def __init__(
        self,
        *,
        store: ConnectionRepository,
        clock: Clock,
        ids: IdGenerator,
        events: ConnectionEvents,
        retry_budget: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._events = events
        self._retry_budget = retry_budget

    def failed(
        self, current: Connection, exc: TokenEndpointError, *, trigger: str, actor: str | None
    ) -> NoReturn:
        """Record the provider's refusal of a refresh and raise what the caller gets."""
        reason = reason_code(exc.error)
        if exc.error in _REAUTH_ERRORS:
            self._mark_needs_reauth(current, code=exc.code, trigger=trigger, actor=actor)
            raise reauth_required(reason) from exc
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

    def without_refresh_token(
        self, current: Connection, *, force: bool, trigger: str, actor: str | None
    ) -> Connection:
        """No refresh token stored: the access token serves until it expires; then only the
        user can help."""
        expires_at = current.token_expires_at
        if expires_at is None or expires_at <= self._clock.now():
            self._mark_needs_reauth(
                current, code=NO_REFRESH_TOKEN_CODE, trigger=trigger, actor=actor
            )
            raise reauth_required("no_refresh_token")
        if force:
            raise Conflict(
                "this connection has no refresh token; its access token cannot be refreshed",
                code=NO_REFRESH_TOKEN_CODE,
            )
        return current

    def succeeded(self, current: Connection, tokens: TokenSet) -> Connection:
        """``current`` with the bookkeeping of a successful refresh: failures reset, the
        scopes granted, ``active`` again when a refresh failure (or a grant believed gone)
        had taken it out."""
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

    def announce_recovered(self, stored: Connection, previous: ConnectionStatus) -> None:
        """``connection.recovered`` when a refresh brought ``stored`` back to ``active``."""
        if stored.status == ConnectionStatus.ACTIVE and previous != ConnectionStatus.ACTIVE:
            self._events.publish_quietly(
                ConnectionEvent.RECOVERED, stored, previous_status=previous.value
            )

    def reannounce_needs_reauth(self, record: Connection) -> None:
        """Announce again in case the enqueue failed when the transition was stored; only
        while ``record`` is still that write (its ``updated_at`` is the transition's time),
        else its version names another occurrence and the tenant would hear it twice."""
        detail = record.status_detail
        if detail is None or detail.at != record.updated_at:
            return
        self._announce_needs_reauth(record)

    def _record_failure(
        self, current: Connection, exc: TokenEndpointError, *, trigger: str, actor: str | None
    ) -> Connection | None:
        """Count the failure (compare-and-set with re-read); ``error`` once the budget is
        spent, or at once for a refusal retrying cannot fix. ``None`` when moot."""
        reason = reason_code(exc.error)
        baseline = current.sealed_access_token

        def attempt(again: bool) -> Connection | None:
            record = self._store.get_connection(current.tenant_id, current.id) if again else current
            if record is None or (again and newer_token(record, baseline, now=self._clock.now())):
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

    def _mark_needs_reauth(
        self, current: Connection, *, code: str, trigger: str, actor: str | None
    ) -> None:
        """Move to ``needs_reauth``; the writer of the transition audits it once and
        announces it with a named event task."""
        baseline = current.sealed_access_token

        def attempt(again: bool) -> Connection | None:
            record = self._store.get_connection(current.tenant_id, current.id) if again else current
            if record is None or (again and newer_token(record, baseline, now=self._clock.now())):
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
                changed, AuditAction.NEEDS_REAUTH, actor, reason=reason_of(code), trigger=trigger
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
        reason = reason_of(detail.code) if detail is not None else "unknown"
        return self._events.publish(ConnectionEvent.NEEDS_REAUTH, connection, reason=reason)

    def _entry(
        self, connection: Connection, action: AuditAction, actor: str | None, **detail: Any
    ) -> AuditEvent:
        acting = Principal(tenant_id=connection.tenant_id, user_id=actor or SYSTEM_ACTOR)
        return audit_entry(self._ids, self._clock, acting, connection.id, action.value, **detail)


def _recoverable(connection: Connection) -> bool:
    """``error`` set by refresh failures, or ``needs_reauth`` (a working grant disproves it)."""
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        return True
    if connection.status != ConnectionStatus.ERROR:
        return False
    detail = connection.status_detail
    own = detail is not None and detail.code.startswith(_OWN_DETAIL_PREFIX)
    return own or connection.refresh_failures > 0

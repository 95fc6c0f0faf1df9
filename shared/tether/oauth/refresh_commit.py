"""Storing a refreshed token set: the crash window of a refresh.

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
* An answer the record has moved past is dropped, not merged: when, by the re-read, the
  stored refresh token is no longer the one the refresh presented (a reconnect stored a
  new grant) or the stored access token was dropped (the destination moved, the
  credentials a token was issued from changed), writing it would put the replaced grant
  back over the new one; :class:`GrantReplaced` carries the re-read record instead.
* A process that dies inside that window (milliseconds: one or two writes) loses a
  rotated refresh token: the record still names the old one. There is no recovery from
  that through the current ports (finding an unreferenced newer secret version would need
  a version listing; holding the answer in a pending record would need a new store
  record). The outcome is made loud instead of silent: the next refresh presents the old
  token, the provider answers ``invalid_grant``, and the connection goes to
  ``needs_reauth`` with one audit entry and one ``connection.needs_reauth`` event.
  A provider that does not rotate loses nothing (the old refresh token still works), and
  a rotating provider with a reuse grace period lets the next refresh succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tether.connections.credential_reads import REFRESH_TOKEN_FIELD, payload_of
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.errors import BackendUnavailable, NotFound, TetherError, VersionConflict
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, Connection, Principal
from tether.oauth.model import SYSTEM_ACTOR, TokenSet
from tether.oauth.refresh_failures import RefreshFailures
from tether.oauth.token_storage import TokenStorage
from tether.ports import ConnectionRepository, SecretStore

__all__ = ["GrantReplaced", "RefreshCommit"]

log = logging.getLogger("tether.tokens")

_WRITE_ATTEMPTS = 5
_MAX_WRITE_BACKOFF_SECONDS = 1.0


class GrantReplaced(Exception):
    """The token set answers a grant the connection no longer holds; ``record`` is the
    connection as it is now (nothing was written)."""

    def __init__(self, record: Connection) -> None:
        super().__init__("the connection's grant was replaced during the refresh")
        self.record = record


class RefreshCommit:
    """Writes what the provider answered, with the success bookkeeping of ``failures``.
    ``backoff_seconds``: the first pause after a failed write (doubling, at most a second)."""

    def __init__(
        self,
        *,
        store: ConnectionRepository,
        secrets: SecretStore,
        token_storage: TokenStorage,
        failures: RefreshFailures,
        clock: Clock,
        ids: IdGenerator,
        sleep: Callable[[float], None],
        backoff_seconds: float,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._tokens = token_storage
        self._failures = failures
        self._clock = clock
        self._ids = ids
        self._sleep = sleep
        self._backoff_seconds = backoff_seconds

    def commit(
        self,
        current: Connection,
        tokens: TokenSet,
        payload: dict[str, Any],
        *,
        renew: Callable[[], None],
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
                    renew()
                    current, payload = self._reread(current, payload)
                changed = self._failures.succeeded(current, tokens)
                recovered = (
                    {"recovered_from": current.status.value}
                    if changed.status != current.status
                    else {}
                )
                acting = Principal(tenant_id=changed.tenant_id, user_id=actor or SYSTEM_ACTOR)
                refreshed = audit_entry(
                    self._ids,
                    self._clock,
                    acting,
                    changed.id,
                    AuditAction.TOKEN_REFRESHED.value,
                    **detail,
                    **recovered,
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
                self._sleep(min(self._backoff_seconds * 2**attempt, _MAX_WRITE_BACKOFF_SECONDS))
        log.error("the refreshed token of %s could not be stored", current.id)
        raise BackendUnavailable(
            "the refreshed token could not be saved; try again", code="OAUTH_REFRESH_NOT_SAVED"
        ) from last

    def _reread(
        self, current: Connection, payload: dict[str, Any]
    ) -> tuple[Connection, dict[str, Any]]:
        fresh = self._store.get_connection(current.tenant_id, current.id)
        if fresh is None:
            raise NotFound(
                "the connection was deleted while its token was refreshed",
                code="CONNECTION_NOT_FOUND",
            )
        if current.sealed_access_token is not None and fresh.sealed_access_token is None:
            raise GrantReplaced(fresh)
        if fresh.credential_ref == current.credential_ref:
            return fresh, payload
        # The credentials changed meanwhile (a new client secret…): merge into those, unless
        # they hold another grant than the one just refreshed.
        latest, fresh = payload_of(self._secrets, self._store, fresh)
        if latest.get(REFRESH_TOKEN_FIELD) != payload.get(REFRESH_TOKEN_FIELD):
            raise GrantReplaced(fresh)
        return fresh, latest

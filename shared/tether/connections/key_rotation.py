"""``tether keys rotate``: re-encrypt every sealed value under the keyring's primary key.

Everything the keyring seals lives in the store (see :mod:`tether.crypto.purposes`):

* **credential payloads** held by the ``db`` secret backend, on connection records;
* **access tokens** sealed on connection records (whatever the secret backend);
* **notify secrets**, the tenants' event-signing secrets in their settings;
* **OAuth states** still pending: their sealed PKCE verifier (and a custom client's
  credentials). Used or expired states are never opened again and are left alone.

Payloads held by Secret Manager are encrypted by Google, not by the keyring: they are counted
as ``skipped``, as are states that are used or expired.

Every record is rewritten with compare-and-set (connections and settings on their version, a
state only while it is still unused and unchanged), so a concurrent change is read again and
never lost. A value that does not open (tampered, or sealed under a key no longer in the
keyring) is reported by id and error code and left as it is; one failure never stops the
rest. A record the store cannot decode at all is reported by id as ``unreadable`` (nothing
in it could be resealed) and skipped likewise. Running instances pick up the new primary from
their keyring source within a second, so a value sealed under the old key meanwhile is caught
by running the command again (it then reports only ``already_current``).

Size: one pass over the four kinds of sealed values, each a few lines of the same compare-and-
set shape, plus the key census `keys retire` needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from tether.crypto import Sealer
from tether.crypto.purposes import (
    ACCESS_TOKEN_PURPOSE,
    CREDENTIALS_PURPOSE,
    NOTIFY_SECRET_PURPOSE,
    OAUTH_STATE_PURPOSE,
)
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.compare_and_set import compare_and_set
from tether.domain.errors import CryptoError, TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import (
    AuditAction,
    AuditEvent,
    Connection,
    CredentialRef,
    OAuthState,
    Page,
    Principal,
    TenantSettings,
)
from tether.ports import ConnectionRepository, OAuthStateRepository, TenantSettingsRepository

__all__ = ["ACCESS_TOKEN_PURPOSE", "KeyRotationService", "KindReport", "RotationReport"]


class RotatedRecords(
    ConnectionRepository, OAuthStateRepository, TenantSettingsRepository, Protocol
):
    """The records key rotation reseals: connections, pending OAuth states, tenant settings."""


R = TypeVar("R", Connection, TenantSettings)
T = TypeVar("T")

_ACTOR = "system:keys-rotate"
AUDIT_NOTIFY_SECRETS_RESEALED = "notify.secrets_resealed"

CREDENTIAL_PAYLOADS = "credential_payloads"
ACCESS_TOKENS = "access_tokens"
NOTIFY_SECRETS = "notify_secrets"
OAUTH_STATES = "oauth_states"
KINDS = (CREDENTIAL_PAYLOADS, ACCESS_TOKENS, NOTIFY_SECRETS, OAUTH_STATES)
UNREADABLE_RECORDS = "unreadable_records"


@dataclass(frozen=True, slots=True)
class Failure:
    """A value left as it was: which kind, which record, and the error code (never a value)."""

    kind: str
    id: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "code": self.code}


@dataclass
class KindReport:
    resealed: int = 0
    already_current: int = 0
    skipped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "resealed": self.resealed,
            "already_current": self.already_current,
            "skipped": self.skipped,
            "failed": self.failed,
        }


@dataclass
class RotationReport:
    primary_key_id: str
    kinds: dict[str, KindReport] = field(default_factory=lambda: {k: KindReport() for k in KINDS})
    failures: list[Failure] = field(default_factory=list)
    # (record type, id) of records the store could not decode: none of their values resealed
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)

    def fail(self, kind: str, record_id: str, code: str) -> None:
        self.kinds[kind].failed += 1
        self.failures.append(Failure(kind, record_id, code))

    def as_dict(self) -> dict[str, object]:
        return {
            "primary_key_id": self.primary_key_id,
            "kinds": {k: r.as_dict() for k, r in self.kinds.items()},
            "failed": self.failed,
            "failures": [f.as_dict() for f in self.failures],
            "unreadable": len(self.unreadable),
            "unreadable_records": [{"record": r, "id": i} for r, i in self.unreadable],
        }


class _Tally:
    """Outcomes of one record's values, applied to the report once the record is written."""

    def __init__(self) -> None:
        # (kind, id shown in the report, outcome, error code)
        self.outcomes: list[tuple[str, str, str, str | None]] = []

    def add(self, kind: str, shown: str, outcome: str, code: str | None = None) -> None:
        self.outcomes.append((kind, shown, outcome, code))

    @property
    def resealed(self) -> list[str]:
        return [kind for kind, _, outcome, _ in self.outcomes if outcome == "resealed"]

    def apply(self, report: RotationReport, *, write_failed: str | None) -> None:
        """Count every outcome; with ``write_failed`` (an error code) the record could not be
        written, so what would have been resealed failed."""
        for kind, shown, outcome, code in self.outcomes:
            if outcome == "resealed" and write_failed is not None:
                outcome, code = "failed", write_failed
            if outcome == "failed":
                report.fail(kind, shown, code or "UNKNOWN")
            elif outcome == "resealed":
                report.kinds[kind].resealed += 1
            elif outcome == "already_current":
                report.kinds[kind].already_current += 1
            else:
                report.kinds[kind].skipped += 1


class KeyRotationService:
    def __init__(
        self, *, store: RotatedRecords, sealer: Sealer, clock: Clock, ids: IdGenerator
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._ids = ids

    def rotate(self) -> RotationReport:
        report = RotationReport(primary_key_id=self._sealer.primary_key_id)

        def unreadable(record: str) -> Callable[[list[str]], None]:
            return lambda ids: report.unreadable.extend((record, i) for i in ids)

        for connection in self._connections(unreadable("connection")):
            self._rotate_connection(connection, report)
        for settings in self._tenant_settings(unreadable("tenant_settings")):
            self._rotate_settings(settings, report)
        now = self._clock.now()
        for state in self._oauth_states(unreadable("oauth_state")):
            self._rotate_state(state, report, now)
        return report

    def key_usage(self) -> dict[str, dict[str, int]]:
        """How many values of each kind are sealed under each key id (read only): what
        ``tether keys retire`` checks before it drops a key. Payloads held by Secret Manager
        and used or expired states are not counted (nothing will open them with a key);
        an envelope that does not parse counts under ``"malformed"``. Records the store cannot
        decode are counted per record type under ``"unreadable_records"`` (present only when
        there are some): what they seal is unknown, so no key is provably unused."""
        usage: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}

        def unreadable(record: str) -> Callable[[list[str]], None]:
            def add(ids: list[str]) -> None:
                counts = usage.setdefault(UNREADABLE_RECORDS, {})
                counts[record] = counts.get(record, 0) + len(ids)

            return add

        def count(kind: str, envelope: str) -> None:
            try:
                key_id = Sealer.key_id_of(envelope)
            except CryptoError:
                key_id = "malformed"
            usage[kind][key_id] = usage[kind].get(key_id, 0) + 1

        for connection in self._connections(unreadable("connection")):
            ref = connection.credential_ref
            if ref is not None and ref.backend == "db":
                count(CREDENTIAL_PAYLOADS, ref.locator)
            if connection.sealed_access_token is not None:
                count(ACCESS_TOKENS, connection.sealed_access_token)
        for settings in self._tenant_settings(unreadable("tenant_settings")):
            for secret in settings.notify_secrets:
                count(NOTIFY_SECRETS, secret.sealed)
        now = self._clock.now()
        for state in self._oauth_states(unreadable("oauth_state")):
            sealed = state.data.get("sealed")
            if isinstance(sealed, str) and state.used_at is None and state.expires_at > now:
                count(OAUTH_STATES, sealed)
        return usage

    # -- walking the store ------------------------------------------------------------------
    def _connections(self, unreadable: Callable[[list[str]], None]) -> Iterator[Connection]:
        return _pages(self._store.scan_connections, unreadable)

    def _tenant_settings(self, unreadable: Callable[[list[str]], None]) -> Iterator[TenantSettings]:
        return _pages(self._store.scan_tenant_settings, unreadable)

    def _oauth_states(self, unreadable: Callable[[list[str]], None]) -> Iterator[OAuthState]:
        return _pages(self._store.scan_oauth_states, unreadable)

    # -- one envelope -----------------------------------------------------------------------
    def _resealed(
        self,
        envelope: str,
        tally: _Tally,
        kind: str,
        *,
        shown: str,
        tenant_id: str,
        record_id: str,
        purpose: str,
    ) -> str | None:
        """The envelope sealed under the primary, or ``None`` when it is current or does not
        open (the outcome goes to ``tally``)."""
        try:
            if not self._sealer.needs_rotation(envelope):
                tally.add(kind, shown, "already_current")
                return None
            fresh = self._sealer.reseal(
                envelope, tenant_id=tenant_id, record_id=record_id, purpose=purpose
            )
        except CryptoError as exc:
            tally.add(kind, shown, "failed", exc.code)
            return None
        tally.add(kind, shown, "resealed")
        return fresh

    # -- connections ------------------------------------------------------------------------
    def _rotate_connection(self, connection: Connection, report: RotationReport) -> None:
        def reseal(current: Connection, tally: _Tally) -> Connection | None:
            def resealed(sealed: str, kind: str, purpose: str) -> str | None:
                """:meth:`_resealed` for a value of this record (credentials or access token)."""
                return self._resealed(
                    sealed,
                    tally,
                    kind,
                    shown=current.id,
                    tenant_id=current.tenant_id,
                    record_id=current.id,
                    purpose=purpose,
                )

            updates: dict[str, object] = {}
            ref = current.credential_ref
            if ref is not None and ref.backend != "db":
                tally.add(CREDENTIAL_PAYLOADS, current.id, "skipped")  # encrypted by Secret Manager
            elif ref is not None:
                envelope = resealed(ref.locator, CREDENTIAL_PAYLOADS, CREDENTIALS_PURPOSE)
                if envelope is not None:
                    updates["credential_ref"] = CredentialRef(
                        backend="db", locator=envelope, key_id=Sealer.key_id_of(envelope)
                    )
            if current.sealed_access_token is not None:
                token = resealed(current.sealed_access_token, ACCESS_TOKENS, ACCESS_TOKEN_PURPOSE)
                if token is not None:
                    updates["sealed_access_token"] = token
            return current.model_copy(update=updates) if updates else None

        def write(changed: Connection, current: Connection, tally: _Tally) -> None:
            entry = self._audit_entry(
                current.tenant_id,
                current.id,
                AuditAction.CREDENTIALS_ROTATED.value,
                resealed=tally.resealed,
            )
            self._store.update_connection(changed, expected_version=current.version, audit=[entry])

        def reread(current: Connection) -> Connection | None:
            return self._store.get_connection(current.tenant_id, current.id, include_deleted=True)

        self._compare_and_set(connection, report, reseal, write, reread)

    # -- tenant settings --------------------------------------------------------------------
    def _rotate_settings(self, settings: TenantSettings, report: RotationReport) -> None:
        def reseal(current: TenantSettings, tally: _Tally) -> TenantSettings | None:
            secrets = []
            changed = False
            for secret in current.notify_secrets:
                sealed = self._resealed(
                    secret.sealed,
                    tally,
                    NOTIFY_SECRETS,
                    shown=f"{current.tenant_id}/{secret.id}",
                    tenant_id=current.tenant_id,
                    record_id=secret.id,
                    purpose=NOTIFY_SECRET_PURPOSE,
                )
                changed = changed or sealed is not None
                secrets.append(
                    secret if sealed is None else secret.model_copy(update={"sealed": sealed})
                )
            if not changed:
                return None
            return current.model_copy(update={"notify_secrets": secrets})

        def write(changed: TenantSettings, current: TenantSettings, tally: _Tally) -> None:
            entry = self._audit_entry(
                current.tenant_id,
                None,
                AUDIT_NOTIFY_SECRETS_RESEALED,
                resealed=len(tally.resealed),
            )
            self._store.put_tenant_settings(
                changed, expected_version=current.version, audit=[entry]
            )

        def reread(current: TenantSettings) -> TenantSettings | None:
            return self._store.get_tenant_settings(current.tenant_id)

        self._compare_and_set(settings, report, reseal, write, reread)

    # -- OAuth states -----------------------------------------------------------------------
    def _rotate_state(self, state: OAuthState, report: RotationReport, now: datetime) -> None:
        sealed = state.data.get("sealed")
        if not isinstance(sealed, str):
            return  # nothing sealed in it
        if state.used_at is not None or state.expires_at <= now:
            report.kinds[OAUTH_STATES].skipped += 1  # never opened again
            return
        tally = _Tally()
        fresh = self._resealed(
            sealed,
            tally,
            OAUTH_STATES,
            shown=f"{state.tenant_id}/{state.state_hash}",
            tenant_id=state.tenant_id,
            record_id=state.state_hash,
            purpose=OAUTH_STATE_PURPOSE,
        )
        if fresh is None:
            tally.apply(report, write_failed=None)
            return
        replaced = state.model_copy(update={"data": {**state.data, "sealed": fresh}})
        try:
            written = self._store.replace_oauth_state(replaced, expected=state)
        except TetherError as exc:
            tally.apply(report, write_failed=exc.code)
            return
        if not written:  # completed (or purged) meanwhile: it will not be opened again
            report.kinds[OAUTH_STATES].skipped += 1
            return
        tally.apply(report, write_failed=None)

    # -- plumbing ---------------------------------------------------------------------------
    def _compare_and_set(
        self,
        record: R,
        report: RotationReport,
        reseal: Callable[[R, _Tally], R | None],
        write: Callable[[R, R, _Tally], None],
        reread: Callable[[R], R | None],
    ) -> None:
        """Reseal ``record`` and write it back (with its audit entry) on its version; on a
        conflict read it again and start over (counting only the last attempt's outcomes)."""
        tries: list[tuple[R, _Tally]] = []

        def attempt(again: bool) -> bool:
            current = reread(tries[-1][0]) if again else record
            if current is None:
                return False  # gone meanwhile
            tally = _Tally()
            tries.append((current, tally))
            changed = reseal(current, tally)
            if changed is not None:
                write(changed, current, tally)
            return True

        try:
            if not compare_and_set(attempt, what="a record being resealed"):
                return
        except TetherError as exc:
            if tries:
                tries[-1][1].apply(report, write_failed=exc.code)
            return
        tries[-1][1].apply(report, write_failed=None)

    def _audit_entry(
        self, tenant_id: str, connection_id: str | None, action: str, **detail: object
    ) -> AuditEvent:
        acting = Principal(tenant_id=tenant_id, user_id=_ACTOR)
        return audit_entry(
            self._ids,
            self._clock,
            acting,
            connection_id,
            action,
            **{"key_id": self._sealer.primary_key_id, **detail},
        )


def _pages(scan: Callable[..., Page[T]], unreadable: Callable[[list[str]], None]) -> Iterator[T]:
    """Every item of a ``scan_*(cursor=...)`` listing, page after page; the ids of records
    the store could not decode go to ``unreadable``."""
    cursor: str | None = None
    while True:
        page = scan(cursor=cursor)
        if page.unreadable:
            unreadable(page.unreadable)
        yield from page.items
        if (cursor := page.next_cursor) is None:
            return

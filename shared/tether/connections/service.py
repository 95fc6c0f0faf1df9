"""Connections: create, read, list, update and soft-delete a tenant's connections.

Every operation is scoped to the principal's tenant (taken from the verified token). Credential
payloads go to the :class:`~tether.ports.SecretStore`; the record keeps only the reference and
masked hints. Every create, update, delete and credential read leaves an audit entry that names
fields, never values.

Size: the commands of one aggregate (create, update with destination binding, delete, credential
reads).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.connections.audit_trail import AuditTrail
from tether.connections.commands import CreateConnection, ListConnections, UpdateConnection
from tether.connections.config_urls import check_config_urls
from tether.connections.credential_reads import (
    GRANT_FIELDS,
    payload_of,
    remember_secrets,
    tenant_fields,
)
from tether.connections.data_purge import schedule_quietly
from tether.connections.event_types import ConnectionEvent
from tether.connections.masking import credential_hints
from tether.domain.clock import Clock
from tether.domain.compare_and_set import compare_and_set
from tether.domain.connect_scope import check_provider, check_reach, end_user_of
from tether.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    RecordUnreadable,
    TetherError,
    VersionConflict,
)
from tether.domain.ids import IdGenerator
from tether.domain.models import (
    AuditAction,
    AuditEvent,
    Connection,
    CredentialRef,
    Page,
    Principal,
    StatusDetail,
    WebhookInfo,
)
from tether.domain.status import ConnectionStatus, check_transition

if TYPE_CHECKING:
    from tether.catalog import Catalog, Provider
    from tether.connections.events import ConnectionEvents
    from tether.ports import AuditLog, ConnectionRepository, SecretStore, TaskQueue

    class ServiceRecords(ConnectionRepository, AuditLog, Protocol):
        """The record ports the connection service uses: connections and their audit
        trail. A type only: the service never loads the ports at run time (the connection
        list's cold start need not create every port's protocol class)."""


__all__ = ["PURGE_CREDENTIALS_TASK", "ConnectionService", "retire_quietly"]

log = logging.getLogger("tether.connections")

PURGE_CREDENTIALS_TASK = "purge_credentials"


def validate_against_schema(
    instance: Mapping[str, Any], schema: Mapping[str, Any], *, section: str
) -> None:
    # Imported on first write: jsonschema costs ~30 ms at cold start and reads never need it.
    from tether.connections.schema_validation import validate_against_schema as validate

    validate(instance, schema, section=section)


_OAUTH_MODES = frozenset({"oauth2"})
# Modes whose tokens the provider may revoke (RFC 7009) when the connection goes.
_REVOCABLE_MODES = frozenset({"oauth2", *ISSUED_TOKEN_MODES})
# Statuses a connection "recovers" from when it is active again.
_RECOVERABLE = frozenset({ConnectionStatus.ERROR, ConnectionStatus.NEEDS_REAUTH})


def retire_quietly(
    secrets: SecretStore, tenant_id: str, connection_id: str, ref: CredentialRef | None
) -> None:
    """Retire a credential version, best effort: the record is consistent either way, and a
    version left enabled is unreferenced and goes when the connection's secret is deleted."""
    if ref is None:
        return
    try:
        secrets.retire(tenant_id=tenant_id, connection_id=connection_id, ref=ref)
    except TetherError as exc:
        log.warning(
            "could not retire a credential version of %s (%s); it is unreferenced",
            connection_id,
            type(exc).__name__,
        )


def _moved_destination(provider: Provider, current: Connection, changed: Connection) -> list[str]:
    """What of the destination ``changed`` moves, when ``current`` holds credentials or
    tokens; empty when nothing moves (or there is nothing to protect)."""
    if current.config == changed.config:
        return []
    if current.credential_ref is None and current.sealed_access_token is None:
        return []
    from tether.catalog.destination import destination_of  # a change's, never a read's

    before = destination_of(provider, current.config)
    return destination_of(provider, changed.config).changed_parts(before)


def _drop_token(connection: Connection) -> None:
    connection.sealed_access_token = None
    connection.token_expires_at = None
    connection.token_refreshed_at = None
    connection.refresh_failures = 0


def _rebind(connection: Connection, provider: Provider, *, now: datetime) -> None:
    """Drop what was issued for the old destination: the sealed access token, and for an
    authorization-code grant the grant itself (the connection waits for a reconnect)."""
    _drop_token(connection)
    if provider.auth_mode in _OAUTH_MODES:
        check_transition(connection.status, ConnectionStatus.PENDING)
        connection.status = ConnectionStatus.PENDING
        connection.status_detail = StatusDetail(
            code="RECONNECT_REQUIRED",
            message="The connection's destination changed; reconnect it to authorize again.",
            at=now,
        )
        connection.webhook_route = None


class ConnectionService:
    def __init__(
        self,
        *,
        store: ServiceRecords,
        secrets: SecretStore,
        catalog: Callable[[], Catalog],
        clock: Clock,
        ids: IdGenerator,
        tasks: Callable[[], TaskQueue] | None = None,
        revoke: Callable[[Connection], None] | None = None,
        check_notify_url: Callable[[str], object] | None = None,
        events: Callable[[], ConnectionEvents] | None = None,
    ) -> None:
        """``events``: gives the lifecycle publisher, asked for on the first change (a read
        never publishes); without it, one over ``tasks`` (when given)."""
        self._store = store
        self._secrets = secrets
        self._tasks = tasks
        self._events = events
        self._revoke = revoke
        self._check_notify_url = check_notify_url
        self._catalog = catalog
        self._clock = clock
        self._ids = ids
        self._trail = AuditTrail(log=store, ids=ids, clock=clock)

    # -- queries ----------------------------------------------------------------------------
    def get(self, principal: Principal, connection_id: str) -> Connection:
        """The tenant's connection; a connect session reaches its own end user's only."""
        connection = self._store.get_connection(principal.tenant_id, connection_id)
        if connection is None:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        check_reach(principal, connection.end_user_id)
        return connection

    def list_connections(self, principal: Principal, query: ListConnections) -> Page[Connection]:
        """A connect session lists its own end user's connections, whatever it asks for."""
        end_user = end_user_of(principal)
        if end_user is not None and query.end_user_id not in (None, end_user):
            return Page(items=[])
        return self._store.list_connections(
            principal.tenant_id,
            end_user_id=end_user or query.end_user_id,
            status=query.status.value if query.status else None,
            provider=query.provider,
            limit=query.limit,
            cursor=query.cursor,
        )

    def audit_trail(self, principal: Principal, connection_id: str) -> list[AuditEvent]:
        self.get(principal, connection_id)
        return self._store.list_audit(principal.tenant_id, connection_id=connection_id)

    # -- commands ---------------------------------------------------------------------------
    def create(
        self,
        principal: Principal,
        request: CreateConnection,
        *,
        webhook: WebhookInfo | None = None,
    ) -> Connection:
        remember_secrets(request.credentials)
        end_user = end_user_of(principal)
        if end_user is not None and request.end_user_id not in (None, end_user):
            raise Forbidden(
                "a connect session creates connections of its own end user only",
                code="END_USER_NOT_ALLOWED",
            )
        check_provider(principal, request.provider)
        provider = self.check_new(request)
        now = self._clock.now()
        connection_id = self._ids.new("conn")
        connection = Connection(
            id=connection_id,
            tenant_id=principal.tenant_id,
            end_user_id=end_user or request.end_user_id,
            provider=provider.key,
            auth_mode=provider.auth_mode,
            display_name=request.display_name or provider.display_name,
            status=self._initial_status(provider),
            config=dict(request.config),
            metadata=dict(request.metadata),
            created_at=now,
            updated_at=now,
            created_by=principal.user_id,
            notify_url=self._notify_url(principal, request.notify_url),
            webhook=webhook,
        )
        if request.credentials:
            connection.credential_ref = self._secrets.put(
                tenant_id=principal.tenant_id,
                connection_id=connection_id,
                provider=provider.key,
                payload=request.credentials,
            )
            connection.credential_hints = credential_hints(
                request.credentials, provider.credentials_schema
            )
        created = self._trail.entry(
            principal,
            connection_id,
            AuditAction.CREATED,
            provider=provider.key,
            credential_fields=sorted(request.credentials),
            config_fields=sorted(request.config),
        )
        try:
            self._store.create_connection(connection, audit=[created])
        except BaseException:
            # No orphaned secret when the record could not be written.
            if connection.credential_ref is not None:
                try:
                    self._destroy_credentials(
                        principal.tenant_id, connection_id, connection.credential_ref
                    )
                except Exception:
                    log.exception("orphaned credentials of %s could not be removed", connection_id)
            raise
        self._publish(ConnectionEvent.CREATED, connection)
        return connection

    def check_new(self, request: CreateConnection) -> Provider:
        """Refuse what :meth:`create` would refuse, writing nothing: an unknown provider,
        config or credentials invalid for its schemas, a config URL it may not use."""
        provider = self._catalog().get(request.provider)
        validate_against_schema(request.config, provider.config_schema, section="config")
        check_config_urls(provider, request.config)
        validate_against_schema(
            request.credentials, provider.credentials_schema, section="credentials"
        )
        return provider

    def update(
        self,
        principal: Principal,
        connection_id: str,
        request: UpdateConnection,
        *,
        if_match: int | None = None,
    ) -> Connection:
        return compare_and_set(
            lambda _again: self._update_once(principal, connection_id, request, if_match=if_match),
            what="the connection",
        )

    def _update_once(
        self,
        principal: Principal,
        connection_id: str,
        request: UpdateConnection,
        *,
        if_match: int | None,
    ) -> Connection:
        """One attempt of :meth:`update`; :class:`VersionConflict` when someone wrote first."""
        current = self.get(principal, connection_id)
        if if_match is not None and current.version != if_match:
            raise PreconditionFailed(
                "the connection has changed since you read it", code="VERSION_MISMATCH"
            )
        if request.credentials is not None or request.config is not None:
            # New credentials or settings connect it anew: only a provider the session offers.
            check_provider(principal, current.provider)
        provider = self._catalog().get(current.provider)
        changed = current.model_copy(deep=True)
        changed.updated_at = self._clock.now()
        if request.display_name is not None:
            changed.display_name = request.display_name
        if request.metadata is not None:
            changed.metadata = dict(request.metadata)
        if request.notify_url is not None:
            changed.notify_url = self._notify_url(principal, request.notify_url)
        if request.config is not None:
            validate_against_schema(request.config, provider.config_schema, section="config")
            check_config_urls(provider, request.config)
            changed.config = dict(request.config)
        moved = _moved_destination(provider, current, changed)
        if moved:
            if request.credentials is None:
                raise Conflict(
                    "this change moves where the connection's credentials are sent "
                    f"({', '.join(moved)}); send the credentials again in the same request",
                    code="CREDENTIALS_REQUIRED",
                    details={"changed": moved},
                )
            _rebind(changed, provider, now=changed.updated_at)
        new_ref = None
        if request.credentials is not None:
            remember_secrets(request.credentials)
            if moved:
                # Bound to the old destination: nothing stored follows the new one.
                merged = {k: v for k, v in request.credentials.items() if v is not None}
                checked = merged
            else:
                merged = self._merged_credentials(principal, current, request.credentials)
                # The stored grant is kept and not the tenant's to check; a grant field the
                # request names (even as null) is checked, and the schema refuses it.
                named = GRANT_FIELDS & request.credentials.keys()
                checked = {
                    **tenant_fields(merged),
                    **{name: request.credentials[name] for name in named},
                }
            validate_against_schema(checked, provider.credentials_schema, section="credentials")
            new_ref = self._secrets.put(
                tenant_id=principal.tenant_id,
                connection_id=connection_id,
                provider=provider.key,
                payload=merged,
            )
            changed.credential_ref = new_ref
            changed.credential_hints = credential_hints(merged, provider.credentials_schema)
            # (A moved OAuth connection stays pending: it waits for a new grant.)
            regrant = bool(moved) and provider.auth_mode in _OAUTH_MODES
            if not regrant and (
                current.status in (ConnectionStatus.ERROR, ConnectionStatus.NEEDS_REAUTH)
                or (
                    current.status == ConnectionStatus.PENDING
                    and provider.auth_mode not in _OAUTH_MODES
                )
            ):
                new_status = self._initial_status(provider)
                check_transition(current.status, new_status)
                changed.status = new_status
                changed.status_detail = None
        if provider.auth_mode in ISSUED_TOKEN_MODES and (
            request.credentials is not None or changed.config != current.config
        ):
            # A token issued for the old credentials or settings (scopes…): the next call
            # issues one for the new ones.
            _drop_token(changed)
        updated = self._trail.entry(
            principal,
            connection_id,
            AuditAction.UPDATED,
            fields=sorted(request.model_dump(exclude_none=True).keys()),
            credential_fields=sorted(request.credentials or {}),
            **({"destination_changed": moved} if moved else {}),
        )
        try:
            stored = self._store.update_connection(
                changed, expected_version=current.version, audit=[updated]
            )
        except VersionConflict:
            # The new version never became current: retire it, then retry on a re-read.
            retire_quietly(self._secrets, principal.tenant_id, connection_id, new_ref)
            if if_match is not None:
                raise PreconditionFailed(
                    "the connection has changed since you read it", code="VERSION_MISMATCH"
                ) from None
            raise
        except BaseException:
            retire_quietly(self._secrets, principal.tenant_id, connection_id, new_ref)
            raise
        if moved:
            # The dropped grant was bound to the old destination: revoke it there (the old
            # config's endpoint and client, the old tokens) before the old version is retired.
            self._revoke_tokens(current)
        if new_ref is not None:
            # The record now points at the new version; the old one is superseded.
            retire_quietly(
                self._secrets, principal.tenant_id, connection_id, current.credential_ref
            )
        self._announce_update(current, stored, credentials=request.credentials is not None)
        return stored

    def delete(self, principal: Principal, connection_id: str) -> None:
        try:
            current = self.get(principal, connection_id)
        except RecordUnreadable:
            if self._remove_unreadable(principal, connection_id):
                return
            current = self.get(principal, connection_id)  # it was fixed or removed meanwhile
        if self._revoke_tokens(current):
            # Revoked first, while the tokens still exist; the revoker may have re-read it.
            current = self.get(principal, connection_id)
        read = current

        def attempt(again: bool) -> None:
            current = self.get(principal, connection_id) if again else read
            now = self._clock.now()
            gone = current.model_copy(
                update={
                    "status": ConnectionStatus.DISABLED,
                    "deleted_at": now,
                    "updated_at": now,
                    "credential_ref": None,
                    "credential_hints": {},
                    "sealed_access_token": None,
                    "token_expires_at": None,
                    "webhook": None,
                }
            )
            deleted = self._trail.entry(principal, connection_id, AuditAction.DELETED)
            stored = self._store.update_connection(
                gone, expected_version=current.version, audit=[deleted]
            )
            # Announced once the record is gone, whatever happens to the credentials next.
            self._publish(ConnectionEvent.DELETED, stored)
            # The record no longer points at the credentials; now destroy them.
            self._destroy_credentials(principal.tenant_id, connection_id, current.credential_ref)

        compare_and_set(attempt, what="the connection")
        self._purge_data(principal.tenant_id, connection_id)

    def _remove_unreadable(self, principal: Principal, connection_id: str) -> bool:
        """Delete a record that no longer decodes: nothing of it can be read, so it goes for
        good (no tombstone), its tokens cannot be revoked at the provider, and its credentials
        are destroyed by connection id (Secret Manager; the DB backend's went with the row)."""
        deleted = self._trail.entry(principal, connection_id, AuditAction.DELETED, unreadable=True)
        if not self._store.remove_unreadable_connection(
            principal.tenant_id, connection_id, audit=[deleted]
        ):
            return False
        log.warning(
            "unreadable connection %s removed; its provider tokens were not revoked",
            connection_id,
        )
        self._destroy_credentials(principal.tenant_id, connection_id, None)
        self._purge_data(principal.tenant_id, connection_id)
        return True

    def read_credentials(
        self, principal: Principal, connection_id: str, *, purpose: str
    ) -> dict[str, Any]:
        """The decrypted credential payload, for services that call the provider. Audited."""
        connection = self.get(principal, connection_id)
        return self._read(principal, connection, purpose=purpose)

    def credentials_of(
        self, principal: Principal, connection: Connection, *, purpose: str
    ) -> dict[str, Any]:
        """:meth:`read_credentials` for a record the caller has just read (no second read).
        Audited (``credentials.read`` with ``purpose``)."""
        return self._read(principal, connection, purpose=purpose)

    def credentials_audited_by_caller(
        self, principal: Principal, connection: Connection
    ) -> dict[str, Any]:
        """The decrypted credential payload of ``connection`` (just read for ``principal``),
        writing NO audit entry: the caller writes its own audit entry for this use, on every
        way its use can end. Only the action runner is such a caller (its run's one
        ``action.run`` entry, :mod:`tether.actions.runner`); everything else reads through
        :meth:`credentials_of`."""
        if connection.tenant_id != principal.tenant_id:
            raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")
        check_reach(principal, connection.end_user_id)
        return self._read(principal, connection, purpose="", audit=False)

    def purge_credentials(self, payload: Mapping[str, Any]) -> None:
        """Task handler: destroy what is left of a deleted connection's credentials (scheduled
        when the secret backend failed during delete). Never touches a live connection."""
        tenant_id, connection_id = payload.get("tenant_id"), payload.get("connection_id")
        if not isinstance(tenant_id, str) or not isinstance(connection_id, str):
            raise InvalidRequest("purge_credentials needs tenant_id and connection_id")
        record = self._store.get_connection(tenant_id, connection_id, include_deleted=True)
        if record is not None and record.deleted_at is None:
            log.warning("not purging the credentials of a live connection %s", connection_id)
            return
        self._secrets.delete(tenant_id=tenant_id, connection_id=connection_id, ref=None)

    # -- internals --------------------------------------------------------------------------
    def _notify_url(self, principal: Principal, url: str | None) -> str | None:
        """The connection's checked notify URL. Only the tenant may set one: a connect
        session's bearer (an end user's browser) pointing it elsewhere would divert the
        tenant's signed events about that connection away from the tenant."""
        if principal.session is not None and url is not None:
            raise Forbidden(
                "a connect session cannot set where the connection's events are delivered",
                code="NOTIFY_URL_NOT_ALLOWED",
            )
        if not url:
            return None
        if self._check_notify_url is not None:
            self._check_notify_url(url)
        return url

    def _publish(self, event: ConnectionEvent, connection: Connection, **data: Any) -> None:
        """Tell the tenant through the one lifecycle publisher; best effort."""
        events = self._publisher()
        if events is not None:
            events.publish_quietly(event, connection, **data)

    def _publisher(self) -> ConnectionEvents | None:
        """The lifecycle publisher handed in, else one over ``tasks`` (when given), built on
        the first change: a read never publishes, so it never loads the publisher."""
        if self._events is not None:
            return self._events()
        if self._tasks is None:
            return None
        from tether.connections.events import ConnectionEvents

        events = ConnectionEvents(self._tasks)
        self._events = lambda: events
        return events

    def _announce_update(
        self, current: Connection, stored: Connection, *, credentials: bool
    ) -> None:
        if credentials:
            self._publish(ConnectionEvent.CREDENTIALS_UPDATED, stored)
        if stored.status == ConnectionStatus.ACTIVE and current.status in _RECOVERABLE:
            self._publish(ConnectionEvent.RECOVERED, stored, previous_status=current.status.value)

    def _revoke_tokens(self, connection: Connection) -> bool:
        """Revoke ``connection``'s OAuth tokens at its provider (RFC 7009), as the record
        names them; whether a revocation was attempted. Best effort: a failure is logged and
        audited by the revoker and never blocks the delete or update that drops the grant."""
        if self._revoke is None or connection.auth_mode not in _REVOCABLE_MODES:
            return False
        self._revoke(connection)
        return True

    def _purge_data(self, tenant_id: str, connection_id: str) -> None:
        """Schedule the deletion of the connection's synced records and syncs
        (:mod:`tether.connections.data_purge`), in chunks, by tasks."""
        if self._tasks is not None:
            schedule_quietly(self._tasks(), tenant_id, connection_id)

    def _destroy_credentials(
        self, tenant_id: str, connection_id: str, ref: CredentialRef | None
    ) -> None:
        try:
            self._secrets.delete(tenant_id=tenant_id, connection_id=connection_id, ref=ref)
        except TetherError as exc:
            if self._tasks is None or not exc.retryable:
                raise
            # The record is already deleted; a durable task finishes the job with retries.
            log.warning(
                "credentials of %s not destroyed yet (%s); purge scheduled",
                connection_id,
                type(exc).__name__,
            )
            self._tasks().enqueue(
                PURGE_CREDENTIALS_TASK,
                {"tenant_id": tenant_id, "connection_id": connection_id},
                name=f"purge-{connection_id}",
            )

    def _read(
        self, principal: Principal, connection: Connection, *, purpose: str, audit: bool = True
    ) -> dict[str, Any]:
        if connection.credential_ref is None:
            return {}
        payload, _ = payload_of(self._secrets, self._store, connection)
        if audit:
            self._trail.append(
                principal, connection.id, AuditAction.CREDENTIALS_READ, purpose=purpose
            )
        return payload

    def _merged_credentials(
        self, principal: Principal, current: Connection, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """PATCH semantics: given fields replace stored ones, ``null`` removes a field; an
        empty object changes nothing (it never wipes the stored credentials)."""
        merged = self._read(principal, current, purpose="update")
        for name, value in changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        return merged

    @staticmethod
    def _initial_status(provider: Provider) -> ConnectionStatus:
        if provider.auth_mode in _OAUTH_MODES:
            # Becomes active when the OAuth callback stores tokens.
            return ConnectionStatus.PENDING
        return ConnectionStatus.ACTIVE

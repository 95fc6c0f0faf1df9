"""Inbound webhooks: verified, deduplicated, stored, enqueued, answered fast.

Two doors lead in:

- ``POST /webhooks/<token>`` (:meth:`WebhookIngestion.receive_for_token`): one URL per
  connection. The token is 256 random bits; only its SHA-256 is stored
  (``connection.webhook.token_hash``), next to a *masked* URL (``…/webhooks/…abcd``) for
  display. The full URL is returned once, when it is issued, and cannot be recovered from
  storage: a lost URL is replaced with :meth:`WebhookIngestion.rotate_webhook`.
- ``POST /webhooks/providers/<provider>`` (:meth:`WebhookIngestion.receive_for_provider`): one
  URL per provider for apps registered once with the provider (Shopify, Slack, GitHub, Xero,
  HubSpot, Square). The event names its account in the catalog's ``route_field``.

Either way a delivery goes through the same steps, in this order:

1. size cap (413 before anything is read further or stored);
2. the connection (404 for an unknown token, a deleted connection, or a provider without
   webhooks: the same answer for all, so only the hash lookup itself is observable);
3. the signing secrets: the connection's credentials field named by the catalog's
   ``secret_field`` (read with purpose ``webhook``, audited), or the app-level secrets from
   Tether's configuration when the catalog names none. On the app-level route a provider
   whose secret is per connection (Stripe, Twilio) is verified with the app-level secrets
   first (a Stripe Connect platform's endpoint secret) and then with the secret of the
   connection the route names; no secret at all fails closed (401);
4. the signature (401, nothing stored);
5. a delivery without any event (Xero's intent-to-receive ``{"events": []}``) is a 200 no-op;
6. the dedupe key (:func:`tether.webhooks.routing.dedupe_key`: provider event id, else the
   body's SHA-256, scoped by connection) and an atomic create of the event record: a
   duplicate answers 200 with no second task;
7. a ``process_webhook`` task, named after the key. If it cannot be enqueued the record is
   deleted again (so the provider's retry is not taken for a duplicate) and the answer is a
   retryable 503. (The record is written as ``enqueued`` up front, saving a write.)

:meth:`WebhookIngestion.process_webhook` (task kind ``process_webhook``) normalizes the stored
event into a :class:`~tether.webhooks.model.TetherEvent` and enqueues its ``deliver`` task.

Routing on the app-level route looks up ``(provider, route value)`` with the store's
:meth:`~tether.ports.ConnectionRepository.find_connection_by_route` (wired as ``find_by_route``;
without one every app-level event is unroutable). The value it matches is the connection's
``webhook_route``, which only Tether sets: the OAuth callback takes it from what the provider
proved (the catalog's ``webhook_route_from``: a field of the token response, or the host of
the token endpoint the code was redeemed at), never from a tenant-writable field or a callback
query parameter, since a tenant able to claim another account's route value would receive its
events. At most one live connection holds a route value per provider; a second one is refused
(the OAuth callback ends in ``error=route_taken``). Both sides compare values normalized by
:func:`normalize_route`. A delivery naming no connection (the provider has no
``webhook_route_from``, as for Xero, GitHub, Stripe and Twilio, or the account was never
connected) is recorded with status ``unroutable`` and no connection, logged, and never
forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets as random_secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tether.delivery.publisher import DELIVER_TASK, EventPublisher, QueuedEventPublisher
from tether.domain.clock import iso_utc
from tether.domain.compare_and_set import compare_and_set
from tether.domain.errors import (
    BackendUnavailable,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    TetherError,
)
from tether.domain.events import TetherEvent
from tether.domain.models import (
    AuditAction,
    AuditEvent,
    Connection,
    Principal,
    WebhookEvent,
    WebhookInfo,
)
from tether.logs import register_secret
from tether.ttl_cache import TtlCache
from tether.webhooks.model import InboundRequest, SignatureError, SignatureScheme
from tether.webhooks.normalizers import RawEvent, normalize
from tether.webhooks.routing import (
    dedupe_key,
    field_text,
    is_empty_batch,
    kept_headers,
    parse_payload,
)

if TYPE_CHECKING:
    from tether.catalog import Catalog, WebhookSpec
    from tether.connections.service import ConnectionService
    from tether.domain.clock import Clock
    from tether.domain.ids import IdGenerator
    from tether.ports import ConnectionRepository, TaskQueue, WebhookEventRepository

    class IngestionRecords(ConnectionRepository, WebhookEventRepository, Protocol):
        """The record ports intake uses: connections (found by token) and the stored events."""


__all__ = [
    "DELIVER_TASK",
    "MAX_BODY_BYTES",
    "PROCESS_WEBHOOK_TASK",
    "WEBHOOKS_PATH",
    "Accepted",
    "EventSummary",
    "SchemeFactory",
    "WebhookIngestion",
    "event_id_for",
    "hash_token",
    "new_signing_secret",
    "normalize_route",
    "process_task_name",
]

log = logging.getLogger("tether.webhooks")

_SecretKey = tuple[str, str, str, str]  # tenant, connection, credential ref, field
_SECRET_CACHE_SECONDS = 300.0
_SECRET_CACHE_SIZE = 1024
PROCESS_WEBHOOK_TASK = "process_webhook"
SYSTEM_ACTOR = "system:webhooks"
WEBHOOKS_PATH = "/webhooks"
MAX_BODY_BYTES = 1024 * 1024

SchemeFactory = Callable[[str, Mapping[str, Any] | None], SignatureScheme]
"""``scheme_for(name, options)`` of :mod:`tether.webhooks.signatures`."""

# What a token looks like (``IdGenerator.token``: URL-safe base64); anything else is unknown
# without a store lookup.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TOKEN_BYTES = 32  # 256 bits
_SIGNING_SECRET_BYTES = 32
# A record still ``received`` this long after its receipt lost its task (the instance died
# between the create and the enqueue, or the delete after a failed enqueue failed too): the
# provider's next retry enqueues it again instead of being swallowed as a duplicate.
_STALLED_AFTER = timedelta(seconds=60)
_MAX_DETAIL_TEXT = 200
# Schemes of senders that refuse a response body (see replies_without_body).
_BODYLESS_SCHEMES = frozenset({"xero"})
# Statuses after which an event is never processed again.
_FINAL = frozenset({"processed", "unroutable", "dropped"})


@dataclass(frozen=True)
class Accepted:
    """The outcome of one accepted delivery (the HTTP answer is 200 for every one).

    ``status``: ``enqueued`` (stored and queued), ``duplicate`` (seen before; nothing new),
    ``unroutable`` (stored, tied to no connection, not forwarded) or ``ignored`` (a verified
    delivery carrying no event)."""

    provider: str
    status: str
    duplicate: bool = False
    dedupe_key: str | None = None
    connection_id: str | None = None


@dataclass(frozen=True)
class EventSummary:
    """One inbound event as ``GET /connections/<id>/events`` shows it: no body, no headers."""

    id: str
    provider: str
    status: str
    type: str | None
    received_at: datetime
    dedupe_key: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider,
            "status": self.status,
            "type": self.type,
            "received_at": iso_utc(self.received_at),
            "dedupe_key": self.dedupe_key,
        }


def hash_token(token: str) -> str:
    """What is stored for a webhook token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_MAX_ROUTE_CHARS = 256


def normalize_route(spec: WebhookSpec, value: object) -> str | None:
    """A route value as stored on a connection and as looked up: text, trimmed (integers as
    decimal text: HubSpot's portal id, GitHub's installation id); lower-case when the
    ``route_field`` is a header (Shopify's shop domain: a host name). ``None`` for anything
    else, empty, or longer than 256 characters."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if spec.route_field is not None and spec.route_field.startswith("header:"):
        text = text.lower()
    return text if 0 < len(text) <= _MAX_ROUTE_CHARS else None


def new_signing_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 256 random bits."""
    raw = random_secrets.token_bytes(_SIGNING_SECRET_BYTES)
    return "whsec_" + base64.b64encode(raw).decode("ascii")


def process_task_name(provider: str, key: str) -> str:
    """``wh-<provider>-<sha256(key)[:32]>``: one ``process_webhook`` task per stored event."""
    return f"wh-{provider}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


def event_id_for(provider: str, key: str) -> str:
    """The stable :class:`TetherEvent` id of a provider event: ``evt_`` + 32 hex digits."""
    digest = hashlib.sha256(provider.encode("utf-8") + b"\x00" + key.encode("utf-8"))
    return "evt_" + digest.hexdigest()[:32]


def _default_scheme_for(name: str, options: Mapping[str, Any] | None = None) -> SignatureScheme:
    # Imported on the first verification: only instances that receive webhooks load it.
    from tether.webhooks.signatures import scheme_for

    return scheme_for(name, options)


def _body_text(body: bytes) -> tuple[str, bool]:
    """The body as stored (``WebhookEvent.body`` is text): UTF-8 as is, anything else as
    base64 (``True``)."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _stored_body(event: WebhookEvent) -> bytes:
    if event.detail.get("body_encoding") == "base64":
        return base64.b64decode(event.body)
    return event.body.encode("utf-8")


def _short(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_DETAIL_TEXT]


def _unknown_webhook() -> NotFound:
    return NotFound("no such webhook", code="WEBHOOK_NOT_FOUND")


def _no_secret() -> SignatureError:
    return SignatureError("no signing secret is configured", reason="no_secret")


class WebhookIngestion:
    def __init__(
        self,
        *,
        store: IngestionRecords,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        tasks: Callable[[], TaskQueue],
        clock: Clock,
        ids: IdGenerator,
        app_secrets: Callable[[str], list[str]],
        max_body_bytes: int = MAX_BODY_BYTES,
        event_ttl_days: int = 7,
        public_url: str | None = None,
        schemes: SchemeFactory | None = None,
        find_by_route: Callable[[str, str], Connection | None] | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        """``public_url``: Tether's public base URL (``TETHER_PUBLIC_URL``); issued webhook
        URLs are ``<public_url>/webhooks/<token>`` (just the path without it). ``schemes``:
        the signature scheme factory (default: ``tether.webhooks.signatures.scheme_for``).
        ``find_by_route``: ``(provider, route value) -> connection`` for app-level routes
        (default: none, so those events are unroutable). ``events``: where processed events
        are published (default: ``deliver`` tasks on ``tasks``)."""
        if max_body_bytes < 1 or event_ttl_days < 1:
            raise ValueError("max_body_bytes and event_ttl_days must be positive")
        self._store = store
        self._connections = connections
        self._catalog = catalog
        self._tasks = tasks
        self._clock = clock
        self._ids = ids
        self._app_secrets = app_secrets
        self.max_body_bytes = max_body_bytes
        self._ttl = timedelta(days=event_ttl_days)
        self._secret_cache: TtlCache[_SecretKey, tuple[str, ...]] = TtlCache(
            ttl=_SECRET_CACHE_SECONDS, size=_SECRET_CACHE_SIZE
        )
        self._public_url = (public_url or "").rstrip("/")
        self._schemes: SchemeFactory = schemes or _default_scheme_for
        self._find_by_route = find_by_route
        self._events = events or QueuedEventPublisher(tasks)

    def replies_without_body(self, provider_key: str) -> bool:
        """Whether the provider wants its answers without a body: Xero requires "no body in
        the response" (200 and 401 alike) and fails its intent-to-receive check otherwise."""
        try:
            spec = self._catalog().get(provider_key).webhook
        except NotFound:
            return False
        return spec is not None and spec.scheme in _BODYLESS_SCHEMES

    # -- webhook URLs -----------------------------------------------------------------------
    def issue_token(self) -> tuple[str, str, str]:
        """A new token: ``(token, sha256 hex to store, "/webhooks/<token>")``."""
        token = self._ids.token(_TOKEN_BYTES)
        return token, hash_token(token), f"{WEBHOOKS_PATH}/{token}"

    def webhook_url(self, token: str) -> str:
        """The full URL of ``token`` (only the path when no public URL is configured)."""
        return f"{self._public_url}{WEBHOOKS_PATH}/{token}"

    def masked_url(self, token: str) -> str:
        """What is stored as ``webhook.url``: enough to recognise the URL, not to use it."""
        return f"{self._public_url}{WEBHOOKS_PATH}/…{token[-4:]}"

    def rotate_webhook(self, principal: Principal, connection_id: str) -> str:
        """Give the connection a new webhook URL (the old one stops working at once) and
        return it. It is shown this once: only its hash and a masked form are stored."""

        def attempt(_again: bool) -> str:
            current = self._connections.get(principal, connection_id)
            self._webhook_spec(current.provider, error=_unsupported)
            return self._install_token(current, actor=principal.user_id)[1]

        return compare_and_set(attempt, what="the connection")

    def enable_for_new_connection(
        self, connection: Connection
    ) -> tuple[Connection, str | None, str | None]:
        """Right after a connection is created: ``(connection as stored, webhook URL or None,
        signing secret or None)``; both strings are shown this once.

        Providers whose signing secret is per connection (the catalog's ``secret_field``:
        Stripe, Twilio, generic ``webhook``) get their own URL, the one the tenant registers
        with the sender. For a Standard Webhooks connection (the generic ``webhook``
        connector) with no secret stored yet, Tether also mints the ``whsec_`` secret and
        stores it in the credentials under ``secret_field``. A connection that already has a
        webhook URL, or whose provider has app-level secrets or no webhooks, is returned
        unchanged with ``None`` for both."""
        spec = self._catalog().get(connection.provider).webhook
        if spec is None or spec.scheme == "none" or spec.secret_field is None:
            return connection, None, None
        if connection.webhook is not None and connection.webhook.token_hash is not None:
            return connection, None, None
        principal = Principal(tenant_id=connection.tenant_id, user_id=connection.created_by)
        secret = None
        if spec.scheme == "standard_webhooks" and spec.secret_field not in (
            connection.credential_hints
        ):
            from tether.connections.commands import UpdateConnection

            secret = new_signing_secret()
            register_secret(secret)
            connection = self._connections.update(
                principal,
                connection.id,
                UpdateConnection(credentials={spec.secret_field: secret}),
            )
        written = connection

        def attempt(again: bool) -> tuple[Connection, str]:
            current = self._connections.get(principal, written.id) if again else written
            return self._install_token(current, actor=principal.user_id)

        stored, url = compare_and_set(attempt, what="the connection")
        return stored, url, secret

    def _install_token(self, current: Connection, *, actor: str) -> tuple[Connection, str]:
        token, token_hash, _ = self.issue_token()
        now = self._clock.now()
        changed = current.model_copy(
            update={
                "webhook": WebhookInfo(url=self.masked_url(token), token_hash=token_hash),
                "updated_at": now,
            }
        )
        updated = AuditEvent(
            id=self._ids.new("aud"),
            tenant_id=current.tenant_id,
            connection_id=current.id,
            action=AuditAction.UPDATED.value,
            actor=actor,
            at=now,
            detail={"fields": ["webhook"]},
        )
        stored = self._store.update_connection(
            changed, expected_version=current.version, audit=[updated]
        )
        return stored, self.webhook_url(token)

    # -- receiving --------------------------------------------------------------------------
    def receive_for_token(self, token: str, request: InboundRequest) -> Accepted:
        """A delivery to a connection's own URL."""
        register_secret(token)  # whatever is logged while handling it, the token is masked
        self._check_size(request)
        if not _TOKEN_SHAPE.fullmatch(token):
            raise _unknown_webhook()
        connection = self._store.find_connection_by_webhook_token(hash_token(token))
        if connection is None or connection.deleted_at is not None:
            raise _unknown_webhook()
        found: Connection = connection
        provider = found.provider
        spec = self._webhook_spec(provider, error=_unknown_webhook)
        payload = parse_payload(request.body, request.header("content-type"))
        field = spec.secret_field
        if field is None:
            sources = [lambda: self._app_secrets(provider)]
        else:
            sources = [lambda: self._connection_secrets(found, field)]
        self._verify(provider, spec, request, sources)
        return self._accept(provider, spec, request, payload, found, route=None)

    def receive_for_provider(self, provider_key: str, request: InboundRequest) -> Accepted:
        """A delivery to the provider's app-level URL, routed by the catalog's
        ``route_field``."""
        self._check_size(request)
        spec = self._webhook_spec(provider_key, error=_unknown_webhook)
        payload = parse_payload(request.body, request.header("content-type"))
        route = normalize_route(spec, field_text(spec.route_field, request.headers, payload))
        # Before verification the route only chooses a secret: the connection it names is
        # trusted once its own secret (or the app's) has verified the delivery.
        connection = self._route(provider_key, route)
        sources = [lambda: self._app_secrets(provider_key)]
        field = spec.secret_field
        if field is not None and connection is not None:
            routed = connection
            sources.append(lambda: self._connection_secrets(routed, field))
        self._verify(provider_key, spec, request, sources)
        return self._accept(provider_key, spec, request, payload, connection, route=route)

    def _check_size(self, request: InboundRequest) -> None:
        if len(request.body) > self.max_body_bytes:
            raise PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes")

    def _webhook_spec(self, provider_key: str, *, error: Callable[[], TetherError]) -> WebhookSpec:
        try:
            spec = self._catalog().get(provider_key).webhook
        except NotFound:
            raise error() from None
        if spec is None or spec.scheme == "none":
            raise error()
        return spec

    def _route(self, provider_key: str, route: str | None) -> Connection | None:
        if route is None or self._find_by_route is None:
            return None
        found = self._find_by_route(provider_key, route)
        if found is None or found.deleted_at is not None or found.provider != provider_key:
            return None
        return found

    def _connection_secrets(self, connection: Connection, field: str) -> list[str]:
        """The connection's signing secret. Kept per instance for a few minutes, keyed by the
        credential reference: a change of credentials makes a new reference (a new envelope
        or secret version), so a cached secret is never served after a change. Without the
        cache every delivery would read (and audit) the credentials; with it, the first
        delivery after a change does."""
        if connection.credential_ref is None:
            return []
        key = (connection.tenant_id, connection.id, connection.credential_ref.locator, field)
        cached = self._secret_cache.get(key)
        if cached is not None:
            return list(cached)
        principal = Principal(tenant_id=connection.tenant_id, user_id=SYSTEM_ACTOR)
        credentials = self._connections.credentials_of(principal, connection, purpose="webhook")
        value = credentials.get(field)
        found = [value] if isinstance(value, str) and value.strip() else []
        self._secret_cache.put(key, tuple(found))
        return found

    def _verify(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        sources: list[Callable[[], list[str]]],
    ) -> None:
        """Verify with each source of secrets in turn (read only when the previous ones did
        not verify); fail closed when there is no secret at all."""
        scheme = self._schemes(spec.scheme, None)
        failure: SignatureError | None = None
        for source in sources:
            secrets = [s for s in source() if s]
            if not secrets:
                continue
            try:
                scheme.verify(request, secrets, now=self._clock.now())
            except SignatureError as exc:
                failure = exc
                continue
            return
        failure = failure or _no_secret()
        log.warning(
            "webhook delivery from %s rejected: %s",
            provider_key,
            failure.reason,
            extra={"provider": provider_key, "reason": failure.reason},
        )
        raise failure

    def _accept(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        payload: Any,
        connection: Connection | None,
        *,
        route: str | None,
    ) -> Accepted:
        connection_id = connection.id if connection is not None else None
        if is_empty_batch(spec, payload):
            return Accepted(provider=provider_key, status="ignored", connection_id=connection_id)
        now = self._clock.now()
        key = dedupe_key(spec, request.headers, payload, request.body, connection_id=connection_id)
        body, encoded = _body_text(request.body)
        detail: dict[str, Any] = {
            "type": _short(field_text(spec.event_type_path, request.headers, payload))
        }
        if encoded:
            detail["body_encoding"] = "base64"
        if connection is None:
            detail["route_field"] = spec.route_field
            detail["route"] = _short(route)
        event = WebhookEvent(
            id=self._ids.new("whe"),
            provider=provider_key,
            dedupe_key=key,
            tenant_id=connection.tenant_id if connection is not None else None,
            connection_id=connection_id,
            received_at=now,
            expires_at=now + self._ttl,
            # Written as ``enqueued`` up front: one write fewer on the hot path. If the task
            # cannot be queued the record is deleted; if the process dies first, a later
            # duplicate finds it stalled and queues it (the task name keeps that single).
            status="enqueued" if connection is not None else "unroutable",
            headers=kept_headers(request.headers),
            body=body,
            detail=detail,
        )
        if not self._store.create_webhook_event(event):
            self._recover_stalled(provider_key, key, now)
            return Accepted(
                provider=provider_key,
                status="duplicate",
                duplicate=True,
                dedupe_key=key,
                connection_id=connection_id,
            )
        if connection is None:
            log.warning(
                "webhook event %s of %s matches no connection; recorded as unroutable",
                event.id,
                provider_key,
                extra={"provider": provider_key, "route_field": spec.route_field},
            )
            return Accepted(provider=provider_key, status="unroutable", dedupe_key=key)
        try:
            self._enqueue_process(event)
        except Exception as exc:
            self._forget(event)
            raise BackendUnavailable(
                "the event could not be queued; try again", code="WEBHOOK_QUEUE_UNAVAILABLE"
            ) from exc
        return Accepted(
            provider=provider_key, status="enqueued", dedupe_key=key, connection_id=connection_id
        )

    def _enqueue_process(self, event: WebhookEvent) -> None:
        payload = {"provider": event.provider, "dedupe_key": event.dedupe_key}
        name = process_task_name(event.provider, event.dedupe_key)
        if not self._tasks().enqueue(PROCESS_WEBHOOK_TASK, payload, name=name):
            # The name is taken: by a task still pending (it will find this record), or by
            # one that ran for an earlier record under this key (deleted after a failed
            # enqueue, or expired), which will not run again. A task of this record's own
            # makes sure it is processed; processing is idempotent.
            self._tasks().enqueue(PROCESS_WEBHOOK_TASK, payload, name=f"{name}-{event.id}")

    def _forget(self, event: WebhookEvent) -> None:
        """Delete a record whose task could not be enqueued, so that the provider's retry is
        stored and enqueued afresh. If even that fails, the retry finds it stalled."""
        try:
            self._store.delete_webhook_event(event.provider, event.dedupe_key)
        except Exception:
            log.exception("webhook event %s could not be deleted after a failed enqueue", event.id)

    def _recover_stalled(self, provider_key: str, key: str, now: datetime) -> None:
        """A duplicate of an event still ``received`` long after its receipt: its task was
        lost, so enqueue it now (503 for the provider to retry if that fails too)."""
        existing = self._store.get_webhook_event(provider_key, key)
        if existing is None or existing.status not in ("received", "enqueued"):
            return
        if now - existing.received_at < _STALLED_AFTER:
            return
        try:
            self._enqueue_process(existing)
        except Exception as exc:
            raise BackendUnavailable(
                "the event could not be queued; try again", code="WEBHOOK_QUEUE_UNAVAILABLE"
            ) from exc
        log.warning("webhook event %s not processed yet; enqueued again", existing.id)

    # -- processing -------------------------------------------------------------------------
    def process_webhook(self, payload: Mapping[str, Any]) -> None:
        """Task handler of ``process_webhook``: normalize the stored event and enqueue its
        ``deliver`` task (named after the event, so at most one), then mark it
        ``processed``. Idempotent; an event gone (expired) or already final is left alone."""
        provider_key, key = payload.get("provider"), payload.get("dedupe_key")
        if not isinstance(provider_key, str) or not isinstance(key, str):
            raise InvalidRequest("process_webhook needs provider and dedupe_key")
        event = self._store.get_webhook_event(provider_key, key)
        if event is None:
            log.info("webhook event of %s is gone; nothing to process", provider_key)
            return
        if event.status in _FINAL:
            return
        connection = None
        if event.tenant_id is not None and event.connection_id is not None:
            connection = self._store.get_connection(event.tenant_id, event.connection_id)
        if connection is None:
            self._store.update_webhook_event(
                event.model_copy(
                    update={"status": "dropped", "detail": {**event.detail, "reason": "gone"}}
                )
            )
            log.info("webhook event %s dropped: its connection is gone", event.id)
            return
        tether_event = self._normalize(event, connection)
        self._events.publish(tether_event, notify_url=connection.notify_url)
        self._store.update_webhook_event(
            event.model_copy(
                update={
                    "status": "processed",
                    "detail": {
                        **event.detail,
                        "type": tether_event.type,
                        "event_id": tether_event.id,
                    },
                }
            )
        )

    def _normalize(self, event: WebhookEvent, connection: Connection) -> TetherEvent:
        try:
            spec = self._catalog().get(event.provider).webhook
        except NotFound:
            spec = None
        raw = RawEvent(
            provider=event.provider,
            payload=parse_payload(_stored_body(event), event.headers.get("content-type")),
            headers=event.headers,
            spec=spec,
        )
        normalized = normalize(raw)
        return TetherEvent(
            id=event_id_for(event.provider, event.dedupe_key),
            type=normalized.type,
            provider=event.provider,
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            occurred_at=normalized.occurred_at or event.received_at,
            data=normalized.data,
        )

    # -- queries ----------------------------------------------------------------------------
    def list_events(
        self, principal: Principal, connection_id: str, limit: int = 50
    ) -> list[EventSummary]:
        """The connection's recent inbound events, newest first (``limit`` capped at 200)."""
        connection = self._connections.get(principal, connection_id)
        events = self._store.list_webhook_events(
            connection.tenant_id, connection.id, limit=max(1, min(limit, 200))
        )
        return [
            EventSummary(
                id=e.id,
                provider=e.provider,
                status=e.status,
                type=e.detail.get("type") if isinstance(e.detail.get("type"), str) else None,
                received_at=e.received_at,
                dedupe_key=e.dedupe_key,
            )
            for e in events
        ]


def _unsupported() -> InvalidRequest:
    return InvalidRequest("this provider does not send webhooks", code="WEBHOOKS_NOT_SUPPORTED")

"""Inbound webhooks: verified, deduplicated, stored, enqueued, answered fast.

Two doors lead in:

- ``POST /webhooks/<token>`` (:meth:`WebhookIntake.receive_for_token`): a connection's own URL
  (issued by :mod:`tether.webhooks.provisioning`; only the token's SHA-256 is stored).
- ``POST /webhooks/providers/<provider>`` (:meth:`WebhookIntake.receive_for_provider`): one
  URL per provider for apps registered once with the provider (Shopify, Slack, GitHub, Xero,
  HubSpot, Square). The event names its account in the catalog's ``route_field``
  (:func:`tether.webhooks.routing.normalize_route` says how it is matched).

Either way a delivery goes through the same steps, in this order:

1. size cap (413 before anything is read further or stored);
2. the connection (404 for an unknown token, a deleted connection, or a provider without
   webhooks: the same answer for all, so only the hash lookup itself is observable), kept
   for a few seconds per instance (:mod:`tether.webhooks.connection_cache` says what a kept
   connection may miss; a delivery it refuses is verified again with the connection read
   afresh);
3. the signing secrets: the connection's credentials field named by the catalog's
   ``secret_field`` (read with purpose ``webhook``, audited), or the app-level secrets from
   Tether's configuration when the catalog names none. On the app-level route a provider
   whose secret is per connection (Stripe, Twilio) is verified with the app-level secrets
   first (a Stripe Connect platform's endpoint secret) and then with the secret of the
   connection the route names; no secret at all fails closed (401);
4. the signature (401, nothing stored);
5. a provider's handshake (the catalog's ``handshake``: Slack's ``url_verification``) is
   answered with its challenge, nothing stored; a delivery without any event (Xero's
   intent-to-receive ``{"events": []}``) is a 200 no-op;
6. the dedupe key (:func:`tether.webhooks.routing.dedupe_key`: provider event id, else the
   body's SHA-256, scoped by connection) and an atomic create of the event record: a
   duplicate answers 200 with no second task. The provider's own event id is kept on the
   record (``detail.source_event_id``) for the envelope the tenant receives;
7. a ``process_webhook`` task (:mod:`tether.webhooks.processing`), named after the key, handed
   to the queue's ``enqueue_soon``: Cloud Tasks creates it before the answer; the embedded queue
   writes it a few milliseconds after, batched with other requests' tasks, so acceptance makes
   one durable write, the record. If the queue refuses the task the record is deleted again (so
   the provider's retry is not taken for a duplicate) and the answer is a retryable 503. (The
   record is written as ``enqueued`` up front, saving a write.)

A task that went missing all the same (the process died between the record and its task) is
found by :meth:`WebhookIntake.requeue_waiting`, which housekeeping runs: a record still waiting a
minute after its receipt gets its task again (the name keeps that single), and so does a
provider's retry of it arriving after that minute (the duplicate path).

A delivery carrying several events (the catalog's ``batch_path``: Xero, HubSpot) goes through
steps 6 and 7 once per event, each routed by its own route value
(:mod:`tether.webhooks.batches`); its events naming no connection are counted and logged,
without their payload, and not stored. A single delivery on the app-level route naming no
connection is recorded with status ``unroutable`` and no connection, logged, and never
forwarded. :meth:`WebhookIntake.list_events` shows a connection's recent events, without
bodies or headers.

Size: the two doors share every step after verification, and a batch is those steps per item.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from tether.domain.clock import iso_utc
from tether.domain.errors import (
    BackendUnavailable,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    TetherError,
)
from tether.domain.models import Connection, Principal, WebhookEvent
from tether.logs import register_secret
from tether.webhooks.batches import MAX_BATCH_ITEMS, batch_items, handshake_answer, item_body
from tether.webhooks.connection_cache import WebhookConnections
from tether.webhooks.model import InboundRequest
from tether.webhooks.processing import PROCESS_WEBHOOK_TASK
from tether.webhooks.provisioning import hash_token
from tether.webhooks.routing import (
    field_text,
    is_empty_batch,
    kept_headers,
    key_of_event,
    normalize_route,
    parse_payload,
)
from tether.webhooks.verification import DeliveryVerification, SchemeFactory

if TYPE_CHECKING:
    from tether.catalog import Catalog, WebhookSpec
    from tether.connections.service import ConnectionService
    from tether.domain.clock import Clock
    from tether.domain.ids import IdGenerator
    from tether.ports import ConnectionRepository, TaskQueue, WebhookEventRepository

    class IntakeRecords(ConnectionRepository, WebhookEventRepository, Protocol):
        """The record ports intake uses: connections (found by token) and the stored events."""


__all__ = [
    "CONNECTION_CACHE_SECONDS",
    "MAX_BODY_BYTES",
    "Accepted",
    "EventSummary",
    "WebhookIntake",
    "process_task_name",
]

log = logging.getLogger("tether.webhooks")

MAX_BODY_BYTES = 1024 * 1024


# What a token looks like (``IdGenerator.token``: URL-safe base64); anything else is unknown
# without a store lookup.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# A record still ``received`` this long after its receipt lost its task (the instance died
# between the create and the enqueue, or the delete after a failed enqueue failed too): the
# provider's next retry enqueues it again instead of being swallowed as a duplicate.
_STALLED_AFTER = timedelta(seconds=60)
_MAX_DETAIL_TEXT = 200
#: How long a connection found by its webhook token is kept (see connection_cache).
CONNECTION_CACHE_SECONDS = 5.0
_CONNECTIONS_KEPT = 1024
# Schemes of senders that refuse a response body (see replies_without_body).
_BODYLESS_SCHEMES = frozenset({"xero"})


@dataclass(frozen=True)
class Accepted:
    """The outcome of one accepted delivery (the HTTP answer is 200 for every one).

    ``status``: ``enqueued`` (stored and queued), ``duplicate`` (seen before; nothing new),
    ``unroutable`` (tied to no connection, not forwarded), ``ignored`` (a verified delivery
    carrying no event) or ``challenge`` (a verified handshake: ``challenge`` is the value to
    answer with). A batch: ``events`` stored anew, ``unroutable`` items naming no connection;
    ``duplicate`` when every routed item was seen before."""

    provider: str
    status: str
    duplicate: bool = False
    dedupe_key: str | None = None
    connection_id: str | None = None
    events: int = 1
    unroutable: int = 0
    challenge: str | None = None


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


def process_task_name(provider: str, key: str) -> str:
    """``wh-<provider>-<sha256(key)[:32]>``: one ``process_webhook`` task per stored event."""
    return f"wh-{provider}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


def _process_task(event: WebhookEvent) -> tuple[dict[str, str], str]:
    """The payload of a stored event's ``process_webhook`` task, and the task's own name."""
    return (
        {"provider": event.provider, "dedupe_key": event.dedupe_key},
        process_task_name(event.provider, event.dedupe_key),
    )


def _body_text(body: bytes) -> tuple[str, bool]:
    """The body as stored (``WebhookEvent.body`` is text): UTF-8 as is, anything else as
    base64 (``True``)."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _short(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_DETAIL_TEXT]


def _read_payload(request: InboundRequest) -> tuple[Any, InvalidRequest | None]:
    """The parsed payload, or ``None`` with the refusal of a JSON body no event could carry
    on: the caller raises it only once the signature checks out (unsigned is 401 first)."""
    try:
        return parse_payload(request.body, request.header("content-type")), None
    except InvalidRequest as refused:
        return None, refused


def _answered(provider: str, challenge: str) -> Accepted:
    return Accepted(provider=provider, status="challenge", events=0, challenge=challenge)


def _unknown_webhook() -> NotFound:
    return NotFound("no such webhook", code="WEBHOOK_NOT_FOUND")


class WebhookIntake:
    def __init__(
        self,
        *,
        store: IntakeRecords,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        tasks: Callable[[], TaskQueue],
        clock: Clock,
        ids: IdGenerator,
        app_secrets: Callable[[str], list[str]],
        max_body_bytes: int = MAX_BODY_BYTES,
        event_ttl_days: int = 7,
        schemes: SchemeFactory | None = None,
        find_by_route: Callable[[str, str], Connection | None] | None = None,
        connection_cache_seconds: float = CONNECTION_CACHE_SECONDS,
    ) -> None:
        """``schemes``: the signature scheme factory (default:
        ``tether.webhooks.signatures.scheme_for``). ``find_by_route``: ``(provider, route
        value) -> connection`` for app-level routes (default: none, so those events are
        unroutable). ``connection_cache_seconds``: how long a connection found by its
        webhook token is kept (:mod:`tether.webhooks.connection_cache`; 0: never)."""
        if max_body_bytes < 1 or event_ttl_days < 1:
            raise ValueError("max_body_bytes and event_ttl_days must be positive")
        self._store = store
        self._connections = connections
        self._by_token = WebhookConnections(
            find=store.find_connection_by_webhook_token,
            writes=store.connection_writes,
            ttl_seconds=connection_cache_seconds,
            size=_CONNECTIONS_KEPT,
            now=lambda: clock.now().timestamp(),
        )
        self._verification = DeliveryVerification(
            connections=connections,
            app_secrets=app_secrets,
            schemes=schemes,
            clock=clock,
        )
        self._catalog = catalog
        self._tasks = tasks
        self._clock = clock
        self._ids = ids
        self.max_body_bytes = max_body_bytes
        self._ttl = timedelta(days=event_ttl_days)
        self._find_by_route = find_by_route

    def replies_without_body(self, provider_key: str) -> bool:
        """Whether the provider wants its answers without a body: Xero requires "no body in
        the response" (200 and 401 alike) and fails its intent-to-receive check otherwise."""
        try:
            spec = self._catalog().get(provider_key).webhook
        except NotFound:
            return False
        return spec is not None and spec.scheme in _BODYLESS_SCHEMES

    # -- receiving --------------------------------------------------------------------------
    def receive_for_token(self, token: str, request: InboundRequest) -> Accepted:
        """A delivery to a connection's own URL: every event it carries is that connection's."""
        register_secret(token)  # whatever is logged while handling it, the token is masked
        self._check_size(request)
        if not _TOKEN_SHAPE.fullmatch(token):
            raise _unknown_webhook()
        token_hash = hash_token(token)
        kept = self._by_token.find(token_hash)
        if kept is None:
            raise _unknown_webhook()
        provider = kept.provider
        spec = self._webhook_spec(provider)
        payload, refused = _read_payload(request)
        items = self._items(spec, payload)
        found = self._verified_for_token(token_hash, kept, spec, request)
        if refused is not None:
            raise refused
        if (challenge := handshake_answer(spec, payload)) is not None:
            return _answered(provider, challenge)
        if items is not None:
            return self._accept_batch(provider, spec, request, [(i, None, found) for i in items])
        return self._accept(provider, spec, request, payload, found, route=None)

    def _verified_for_token(
        self, token_hash: str, kept: Connection, spec: WebhookSpec, request: InboundRequest
    ) -> Connection:
        """The delivery verified with the connection as kept; one it refuses is verified
        again with the connection read afresh, if that changed since (new signing
        credentials given on another instance must not be refused until the entry ends)."""
        try:
            self._verification.verify_for_connection(kept, spec, request)
        except TetherError:
            fresh = self._by_token.fresh(token_hash)
            if fresh is None:
                raise _unknown_webhook() from None
            if fresh.version == kept.version:
                raise
        else:
            return kept
        self._verification.verify_for_connection(fresh, spec, request)
        return fresh

    def receive_for_provider(self, provider_key: str, request: InboundRequest) -> Accepted:
        """A delivery to the provider's app-level URL, routed by the catalog's
        ``route_field`` (each event of a batch by its own)."""
        self._check_size(request)
        spec = self._webhook_spec(provider_key)
        payload, refused = _read_payload(request)
        if refused is not None:  # nothing to route by: the app's secrets must verify it
            self._verification.verify_for_provider(provider_key, spec, request, None)
            raise refused
        items = self._items(spec, payload)
        if items is not None:
            return self._receive_batch(provider_key, spec, request, payload, items)
        route = normalize_route(spec, field_text(spec.route_field, request.headers, payload))
        # Before verification the route only chooses a secret: the connection it names is
        # trusted once its own secret (or the app's) has verified the delivery.
        connection = self._route(provider_key, route)
        self._verification.verify_for_provider(provider_key, spec, request, connection)
        if (challenge := handshake_answer(spec, payload)) is not None:
            return _answered(provider_key, challenge)
        return self._accept(provider_key, spec, request, payload, connection, route=route)

    def _receive_batch(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        payload: Any,
        items: list[Any],
    ) -> Accepted:
        """Route each item by its own route value (one lookup per distinct value). A
        connection's own secret may verify the delivery only when every item names that one
        connection: otherwise one tenant's sender could sign events into another's. So only
        a batch naming a single route value is routed before verification (its connection's
        secret may be the one to try); any other is verified with the app's secrets first,
        and a forged body naming a thousand accounts costs no lookup."""
        routes = [
            normalize_route(spec, field_text(spec.route_field, request.headers, item))
            for item in items
        ]
        found: dict[str | None, Connection | None] = {}
        if spec.secret_field is not None and len(set(routes)) == 1:
            only = self._route(provider_key, routes[0])
            found[routes[0]] = only
        else:
            only = None
        self._verification.verify_for_provider(provider_key, spec, request, only)
        routed: list[tuple[Any, str | None, Connection | None]] = []
        for item, route in zip(items, routes, strict=True):
            if route not in found:
                found[route] = self._route(provider_key, route)
            routed.append((item, route, found[route]))
        if (challenge := handshake_answer(spec, payload)) is not None:
            return _answered(provider_key, challenge)
        return self._accept_batch(provider_key, spec, request, routed)

    def _items(self, spec: WebhookSpec, payload: Any) -> list[Any] | None:
        items = batch_items(spec, payload)
        if items is not None and len(items) > MAX_BATCH_ITEMS:
            raise PayloadTooLarge(f"a delivery may carry at most {MAX_BATCH_ITEMS} events")
        return items

    def _check_size(self, request: InboundRequest) -> None:
        if len(request.body) > self.max_body_bytes:
            raise PayloadTooLarge(f"the body is larger than {self.max_body_bytes} bytes")

    def _webhook_spec(self, provider_key: str) -> WebhookSpec:
        try:
            spec = self._catalog().get(provider_key).webhook
        except NotFound:
            raise _unknown_webhook() from None
        if spec is None or spec.scheme == "none":
            raise _unknown_webhook()
        return spec

    def _route(self, provider_key: str, route: str | None) -> Connection | None:
        if route is None or self._find_by_route is None:
            return None
        found = self._find_by_route(provider_key, route)
        if found is None or found.deleted_at is not None or found.provider != provider_key:
            return None
        return found

    def _accept_batch(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        routed: list[tuple[Any, str | None, Connection | None]],
    ) -> Accepted:
        """Each routed item stored and queued as an event of its own. Items naming no
        connection are counted and logged (never their payload), not stored: a provider's
        batch carries every account of the app, most of them perhaps nobody's here."""
        if not routed:
            return Accepted(provider=provider_key, status="ignored", events=0)
        stored = duplicates = 0
        for item, route, connection in routed:
            if connection is None:
                continue
            outcome = self._accept(
                provider_key, spec, request, item, connection, route=route, raw=item_body(item)
            )
            duplicates += outcome.duplicate
            stored += not outcome.duplicate
        unroutable = len(routed) - stored - duplicates
        if unroutable:
            log.warning(
                "%d of %d events of a %s delivery match no connection; not forwarded",
                unroutable,
                len(routed),
                provider_key,
                extra={"provider": provider_key, "route_field": spec.route_field},
            )
        status = "enqueued" if stored else "duplicate" if duplicates else "unroutable"
        return Accepted(
            provider=provider_key,
            status=status,
            duplicate=status == "duplicate",
            events=stored,
            unroutable=unroutable,
        )

    def _accept(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        payload: Any,
        connection: Connection | None,
        *,
        route: str | None,
        raw: bytes | None = None,
    ) -> Accepted:
        """One event: ``payload`` parsed, ``raw`` as stored and hashed (the request's body,
        or one item of a batch)."""
        connection_id = connection.id if connection is not None else None
        if is_empty_batch(spec, payload):
            return Accepted(provider=provider_key, status="ignored", connection_id=connection_id)
        now = self._clock.now()
        raw = request.body if raw is None else raw
        source_event_id = field_text(spec.event_id_path, request.headers, payload)
        key = key_of_event(source_event_id, raw, connection_id=connection_id)
        body, encoded = _body_text(raw)
        detail: dict[str, Any] = {
            "type": _short(field_text(spec.event_type_path, request.headers, payload)),
            "source_event_id": _short(source_event_id),
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
            self._enqueue_process(event, soon=True)
        except Exception as exc:
            self._forget(event)
            raise BackendUnavailable(
                "the event could not be queued; try again", code="WEBHOOK_QUEUE_UNAVAILABLE"
            ) from exc
        return Accepted(
            provider=provider_key, status="enqueued", dedupe_key=key, connection_id=connection_id
        )

    def _enqueue_process(self, event: WebhookEvent, *, soon: bool = False) -> None:
        """The record's task, at once or ``soon`` (after the answer, on the embedded queue).
        Under the key's name, else under one of this record's own: the key's name may be taken
        by a task still pending (it will find this record) or by one that ran for an earlier
        record under this key (deleted after a failed enqueue, or expired), which will not run
        again. Processing is idempotent."""
        payload, name = _process_task(event)
        names = (name, f"{name}-{event.id}")
        if soon:
            self._tasks().enqueue_soon(PROCESS_WEBHOOK_TASK, payload, names=names)
        else:  # a stalled record's retry: rare, so its import is paid only then
            from tether.ports.task_queue import enqueue_first_free

            enqueue_first_free(self._tasks().enqueue, PROCESS_WEBHOOK_TASK, payload, names)

    def requeue_waiting(
        self,
        *,
        limit: int = 1000,
        max_events: int = 20_000,
        budget: timedelta = timedelta(seconds=60),
    ) -> int:
        """Queue the task of every stored event still waiting a minute after its receipt
        whose task went missing; returns how many were queued. An event whose task exists
        (pending, running, or finished without processing it) keeps it: only the task's own
        name is tried, so a backlog is never doubled.

        The waiting events are walked oldest first, ``limit`` a page, each page after the
        last event of the one before: events stuck waiting with a task of theirs (a backlog,
        or tasks that gave up during an outage) never hide the newer ones behind them. A run
        looks at ``max_events`` at most and starts no page after ``budget``; the next run
        starts from the oldest again."""
        now = self._clock.now()
        before = now - _STALLED_AFTER
        queued = seen = 0
        after: WebhookEvent | None = None
        while seen < max_events:
            page = self._store.waiting_webhook_events(
                before, limit=min(limit, max_events - seen), after=after
            )
            for event in page:
                payload, name = _process_task(event)
                if self._tasks().enqueue(PROCESS_WEBHOOK_TASK, payload, name=name):
                    queued += 1
            seen += len(page)
            if len(page) < limit or self._clock.now() - now >= budget:
                break
            after = page[-1]
        if queued:
            log.warning("%d stored webhook events had lost their task; queued again", queued)
        return queued

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

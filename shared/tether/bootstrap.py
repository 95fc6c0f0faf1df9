"""Composition root: the capabilities' services wired over an instance's parts (its settings,
own secrets, adapters and clients: :class:`~tether.infrastructure.Infrastructure`), each built
lazily, once per instance; the task table; the instance's one container.

Nothing here runs at import time and nothing here decides anything: which adapter, key or
verifier the settings name is for the capability that owns it to say (``adapters.backends``,
``crypto.instance_secrets``, ``api.auth``…); which services each function's routes get, for
:mod:`tether.wiring`. Tests build a :class:`Container` with their own settings (and may hand
in any part) and call :func:`reset_container` between cases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tether.domain.errors import TetherError
from tether.infrastructure import Infrastructure
from tether.lazy import lazy

if TYPE_CHECKING:
    from tether.actions.mcp_tools import McpTools
    from tether.actions.runner import ActionRunner
    from tether.adapters.local_tasks import Periodic
    from tether.api.auth import TokenVerifier
    from tether.connect.sessions import ConnectSessions
    from tether.connections.data_purge import ConnectionDataPurge
    from tether.connections.events import ConnectionEvents
    from tether.connections.housekeeping import Housekeeping
    from tether.connections.key_rotation import KeyRotationService
    from tether.connections.service import ConnectionService
    from tether.delivery.service import DeliveryService
    from tether.delivery.settings import NotifySettingsService
    from tether.domain.models import Connection
    from tether.fetch.calls import ConnectionCalls
    from tether.fetch.discovery import EndpointDiscovery
    from tether.fetch.probe import ConnectionProber
    from tether.fetch.proxy import ConnectionProxy
    from tether.oauth.clients import OAuthClients
    from tether.oauth.discovery import MetadataDiscovery
    from tether.oauth.flow import OAuthFlowService
    from tether.oauth.model import OAuthClient
    from tether.oauth.refresh import TokenRefresh
    from tether.oauth.revocation import TokenRevocation
    from tether.oauth.route_lookup import AccountLookup
    from tether.oauth.token_endpoint import TokenEndpoint
    from tether.oauth.token_issuer import TokenIssuer
    from tether.oauth.token_storage import TokenStorage
    from tether.ports import IdempotencyKeys, RecordStore, SyncStateStore, TaskQueue
    from tether.sync.events import SyncEvents
    from tether.sync.lifecycle import SyncLifecycle
    from tether.sync.runner import SyncRunner
    from tether.sync.scheduler import SyncScheduler
    from tether.sync.service import SyncService
    from tether.webhooks.intake import WebhookIntake
    from tether.webhooks.processing import WebhookProcessing
    from tether.webhooks.provisioning import WebhookProvisioning

__all__ = ["Container", "check_startup", "get_container", "reset_container"]


class Container(Infrastructure):
    @lazy
    def tasks(self) -> TaskQueue:
        from tether.adapters.backends import task_queue

        return task_queue(
            self.settings, self.dispatch_task, clock=self.clock, periodic=self._scheduled
        )

    def _scheduled(self) -> list[Periodic]:
        """What Cloud Scheduler runs in the cloud, for the embedded queue to run itself:
        housekeeping, the token sweep (the safety net of proactive refresh) and the start of
        due syncs."""
        from datetime import timedelta

        from tether.adapters.local_tasks import Periodic
        from tether.connections.housekeeping import HOUSEKEEPING_TASK
        from tether.oauth.refresh_schedule import SWEEP_TASK, sweep_interval
        from tether.sync.scheduler import SYNC_DUE_TASK

        s = self.settings
        return [
            Periodic(HOUSEKEEPING_TASK, timedelta(seconds=s.housekeeping_interval_seconds)),
            Periodic(SWEEP_TASK, sweep_interval(s.oauth_sweep_window_seconds)),
            Periodic(SYNC_DUE_TASK, timedelta(seconds=s.sync_due_interval_seconds)),
        ]

    @lazy
    def connections(self) -> ConnectionService:
        from tether.connections.service import ConnectionService

        return ConnectionService(
            store=self.store,
            secrets=self.secrets,
            catalog=lambda: self.catalog,
            clock=self.clock,
            ids=self.ids,
            tasks=lambda: self.tasks,
            revoke=lambda connection: self.token_revocation.revoke(connection),
            check_notify_url=lambda url: self.notify_settings.check_notify_url(url),
            events=lambda: self.connection_events,
        )

    @lazy
    def connect_sessions(self) -> ConnectSessions:
        from tether.connect.sessions import ConnectSessions

        return ConnectSessions(
            store=self.store,
            catalog=lambda: self.catalog,
            clock=self.clock,
            ids=self.ids,
            page_url=self.function_url("connect"),
        )

    @lazy
    def frame_verifier(self) -> TokenVerifier:
        """Every function's bearer check: the tenant's tokens, and connect session tokens
        (which each route admits or not)."""
        from tether.api.auth import SessionAwareVerifier

        return SessionAwareVerifier(self.verifier, lambda: self.connect_sessions)

    def function_url(self, name: str) -> str:
        """Where function ``name`` answers, with a trailing slash: under the public URL, by
        its deployed name in the cloud (``oauth-start``) and as ``tether dev`` serves it
        (``oauth_start``) elsewhere; a path from the root when no public URL is set."""
        s = self.settings
        deployed = name.replace("_", "-") if s.mode == "cloud" else name
        return f"{s.public_url or ''}/{deployed}/"

    @lazy
    def connection_events(self) -> ConnectionEvents:
        """The one publisher of connection lifecycle events, for every service."""
        from tether.connections.events import ConnectionEvents

        return ConnectionEvents(
            lambda: self.tasks,
            listeners=[lambda event, connection: self.sync_lifecycle.follow(event, connection)],
        )

    @lazy
    def sync_state(self) -> SyncStateStore:
        return self.store

    @lazy
    def sync_records(self) -> RecordStore:
        return self.store

    @lazy
    def sync_events(self) -> SyncEvents:
        from tether.sync.events import SyncEvents

        return SyncEvents(lambda: self.tasks)

    @lazy
    def sync_lifecycle(self) -> SyncLifecycle:
        from tether.sync.lifecycle import SyncLifecycle

        return SyncLifecycle(state=self.sync_state, clock=self.clock)

    @lazy
    def sync_runner(self) -> SyncRunner:
        from tether.sync.runner import RunLimits, SyncRunner

        s = self.settings
        return SyncRunner(
            state=self.sync_state,
            records=self.sync_records,
            connections=self.connections,
            catalog=lambda: self.catalog,
            calls=lambda: self.connection_calls,
            tasks=lambda: self.tasks,
            events=self.sync_events,
            clock=self.clock,
            ids=self.ids,
            limits=RunLimits(
                slice_seconds=s.sync_slice_seconds,
                checkpoint_pages=s.sync_checkpoint_pages,
                max_attempts=s.task_max_attempts,
                max_pages=s.sync_max_pages,
            ),
        )

    @lazy
    def sync_scheduler(self) -> SyncScheduler:
        from tether.sync.scheduler import SyncScheduler

        return SyncScheduler(
            state=self.sync_state,
            runner=self.sync_runner,
            lifecycle=self.sync_lifecycle,
            connections=self.connections,
            catalog=lambda: self.catalog,
            clock=self.clock,
        )

    @lazy
    def sync_service(self) -> SyncService:
        from tether.sync.service import SyncService

        return SyncService(
            state=self.sync_state,
            records=self.sync_records,
            runner=self.sync_runner,
            connections=self.connections,
            catalog=lambda: self.catalog,
            clock=self.clock,
        )

    @lazy
    def token_storage(self) -> TokenStorage:
        from tether.oauth.token_storage import TokenStorage

        return TokenStorage(
            store=self.store, secrets=self.secrets, sealer=self.sealer, clock=self.clock
        )

    @lazy
    def connection_prober(self) -> ConnectionProber:
        from tether.fetch.probe import ConnectionProber, pg8000_connect

        tokens = self.token_refresh
        return ConnectionProber(
            connections=self.connections,
            store=self.store,
            catalog=lambda: self.catalog,
            client=self.outbound,
            clock=self.clock,
            ids=self.ids,
            oauth_token=tokens.access_token,
            oauth_refresh=lambda c: tokens.access_token(tokens.force_refresh(c)),
            client_credentials=lambda p, config, credentials: (
                self.token_issuer.issue(p, config, credentials).access_token
            ),
            guard=self.egress_guard,
            pg_connect=pg8000_connect(),
            timeout=self.settings.connection_test_timeout_seconds,
        )

    @lazy
    def connection_calls(self) -> ConnectionCalls:
        from tether.fetch.calls import ConnectionCalls
        from tether.http.model import RateSpec

        s = self.settings
        return ConnectionCalls(
            connections=self.connections,
            catalog=lambda: self.catalog,
            client=lambda: self.outbound,
            token_refresh=lambda: self.token_refresh,
            default_rate=RateSpec(per_minute=s.rate_limit_per_minute, burst=s.rate_limit_burst),
        )

    @lazy
    def mcp_tools(self) -> McpTools:
        from tether.actions.mcp_tools import McpTools

        return McpTools(
            runner=self.action_runner,
            connections=self.connections,
            calls=lambda: self.connection_calls,
        )

    @lazy
    def connection_proxy(self) -> ConnectionProxy:
        from tether.fetch.proxy import ConnectionProxy

        return ConnectionProxy(lambda: self.connection_calls)

    @lazy
    def idempotency_keys(self) -> IdempotencyKeys:
        from tether.adapters.backends import idempotency_keys

        return idempotency_keys(self.settings)

    @lazy
    def action_runner(self) -> ActionRunner:
        from tether.actions.runner import ActionRunner
        from tether.catalog.action_catalog import load_actions

        return ActionRunner(
            connections=self.connections,
            calls=lambda: self.connection_calls,
            actions=load_actions,
            keys=lambda: self.idempotency_keys,
            audit=self.store,
            clock=self.clock,
            ids=self.ids,
        )

    @lazy
    def notify_settings(self) -> NotifySettingsService:
        from tether.delivery.settings import NotifySettingsService

        return NotifySettingsService(
            store=self.store,
            sealer=self.sealer,
            clock=self.clock,
            ids=self.ids,
            guard=self.egress_guard,
        )

    @lazy
    def delivery(self) -> DeliveryService:
        from tether.delivery.service import DeliveryService

        return DeliveryService(
            self.store,
            self.notify_settings,
            self.delivery_client,
            self.clock,
            max_attempts=self.settings.task_max_attempts,
            connection_of=self.store.get_connection,
        )

    @lazy
    def webhook_provisioning(self) -> WebhookProvisioning:
        from tether.webhooks.provisioning import WebhookProvisioning

        return WebhookProvisioning(
            store=self.store,
            connections=self.connections,
            catalog=lambda: self.catalog,
            clock=self.clock,
            ids=self.ids,
            public_url=self.settings.public_url,
        )

    @lazy
    def webhook_intake(self) -> WebhookIntake:
        from tether.webhooks.intake import WebhookIntake

        s = self.settings
        return WebhookIntake(
            store=self.store,
            connections=self.connections,
            catalog=lambda: self.catalog,
            tasks=lambda: self.tasks,
            clock=self.clock,
            ids=self.ids,
            app_secrets=lambda provider: [
                secret.get_secret_value() for secret in s.webhook_secrets.get(provider, [])
            ],
            max_body_bytes=s.max_body_bytes,
            find_by_route=self.store.find_connection_by_route,
            event_ttl_days=s.retention_webhook_events_days,
        )

    @lazy
    def webhook_processing(self) -> WebhookProcessing:
        from tether.webhooks.processing import WebhookProcessing

        return WebhookProcessing(
            store=self.store, catalog=lambda: self.catalog, tasks=lambda: self.tasks
        )

    @lazy
    def housekeeping(self) -> Housekeeping:
        from tether.adapters.db_secrets import DbSecretStore
        from tether.adapters.local_tasks import LocalTaskQueue
        from tether.connections.housekeeping import Housekeeping

        # Cloud Tasks deletes its tasks itself; the embedded queue's are ours to purge.
        purge_finished_tasks = None
        if self.settings.tasks == "local" and isinstance(self.tasks, LocalTaskQueue):
            purge_finished_tasks = self.tasks.purge_finished
        # Secret Manager destroys retired versions; the db store's tombstones are ours.
        purge_secret_tombstones = None
        if self.settings.secrets == "db" and isinstance(self.secrets, DbSecretStore):
            purge_secret_tombstones = self.secrets.purge_tombstones
        return Housekeeping(
            store=self.store,
            clock=self.clock,
            retention=self.settings.retention,
            purge_finished_tasks=purge_finished_tasks,
            purge_secret_tombstones=purge_secret_tombstones,
            requeue_waiting_webhooks=lambda: self.webhook_intake.requeue_waiting(),
        )

    @lazy
    def connection_data_purge(self) -> ConnectionDataPurge:
        from tether.connections.data_purge import ConnectionDataPurge

        return ConnectionDataPurge(
            connections=self.store,
            records=self.store,
            syncs=self.store,
            tasks=lambda: self.tasks,
            clock=self.clock,
        )

    @lazy
    def endpoint_discovery(self) -> EndpointDiscovery:
        import time

        from tether.fetch.discovery import EndpointDiscovery

        return EndpointDiscovery(monotonic=time.monotonic)

    @lazy
    def token_endpoint(self) -> TokenEndpoint:
        from tether.oauth.token_endpoint import TokenEndpoint

        return TokenEndpoint(self.http)

    @lazy
    def token_issuer(self) -> TokenIssuer:
        from tether.oauth.token_issuer import TokenIssuer

        return TokenIssuer(endpoint=lambda: self.token_endpoint, clock=self.clock)

    @lazy
    def oauth_discovery(self) -> MetadataDiscovery:
        from tether.oauth.discovery import MetadataDiscovery

        return MetadataDiscovery(lambda: self.token_endpoint)

    @lazy
    def oauth_clients(self) -> OAuthClients:
        from tether.oauth.clients import OAuthClients

        return OAuthClients(
            self.settings.oauth_clients,
            discovery=lambda: self.oauth_discovery,
            now=self.clock.now,
        )

    @lazy
    def oauth_flow(self) -> OAuthFlowService:
        from tether.oauth.flow import OAuthFlowService

        s = self.settings
        return OAuthFlowService(
            store=self.store,
            secrets=self.secrets,
            sealer=self.sealer,
            token_storage=self.token_storage,
            catalog=lambda: self.catalog,
            clients=self.oauth_clients,
            endpoint=lambda: self.token_endpoint,
            clock=self.clock,
            ids=self.ids,
            redirect_uri=s.callback_url,
            # The hosted connect page is Tether's own: its OAuth flows return to it.
            allowed_return_urls=(*s.return_url_prefixes, self.function_url("connect")),
            state_ttl_seconds=s.oauth_state_ttl_seconds,
            on_tokens_stored=self._schedule_refresh,
            events=self.connection_events,
            accounts=lambda: self.account_lookup,
            webhooks=lambda: self.webhook_provisioning,
        )

    @lazy
    def account_lookup(self) -> AccountLookup:
        from tether.oauth.route_lookup import AccountLookup

        return AccountLookup(self.http)

    def _schedule_refresh(self, connection: Connection) -> None:
        self.token_refresh.schedule.schedule_refresh(connection)

    def oauth_client_for(self, connection: Connection) -> OAuthClient:
        """The provider client of a stored connection."""
        provider = self.catalog.get(connection.provider)
        return self.oauth_clients.for_connection(provider, connection, self.secrets)

    @lazy
    def token_refresh(self) -> TokenRefresh:
        from tether.oauth.refresh import TokenRefresh
        from tether.oauth.refresh_policy import catalog_refresh_policies

        s = self.settings
        return TokenRefresh(
            store=self.store,
            secrets=self.secrets,
            token_storage=self.token_storage,
            endpoint=lambda: self.token_endpoint,
            client_for=self.oauth_client_for,
            policy_for=catalog_refresh_policies(
                lambda: self.catalog, default_margin_seconds=s.oauth_refresh_margin_seconds
            ),
            tasks=lambda: self.tasks,
            clock=self.clock,
            ids=self.ids,
            lease_seconds=s.oauth_refresh_lease_seconds,
            retry_budget=s.oauth_refresh_retry_budget,
            sweep_window_seconds=s.oauth_sweep_window_seconds,
            events=self.connection_events,
            issue=lambda connection, credentials: self.token_issuer.issue(
                self.catalog.get(connection.provider), connection.config, credentials
            ),
        )

    @lazy
    def token_revocation(self) -> TokenRevocation:
        from tether.oauth.revocation import TokenRevocation

        return TokenRevocation(
            store=self.store,
            secrets=self.secrets,
            token_storage=self.token_storage,
            endpoint=lambda: self.token_endpoint,
            client_for=self.oauth_client_for,
            clock=self.clock,
            ids=self.ids,
            sign_out=lambda connection: self.token_issuer.sign_out_for(
                self.catalog.get(connection.provider), connection.config
            ),
        )

    @lazy
    def key_rotation(self) -> KeyRotationService:
        from tether.connections.key_rotation import KeyRotationService

        return KeyRotationService(
            store=self.store, sealer=self.sealer, clock=self.clock, ids=self.ids
        )

    @lazy
    def task_handlers(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        """Task kind → handler."""
        from tether.connections.data_purge import PURGE_CONNECTION_DATA_TASK
        from tether.connections.housekeeping import HOUSEKEEPING_TASK
        from tether.connections.service import PURGE_CREDENTIALS_TASK
        from tether.delivery.service import DELIVER_TASK
        from tether.oauth.refresh_schedule import REFRESH_TASK, SWEEP_TASK
        from tether.sync.runner import SYNC_TASK
        from tether.sync.scheduler import SYNC_DUE_TASK
        from tether.webhooks.processing import PROCESS_WEBHOOK_TASK

        return {
            PURGE_CREDENTIALS_TASK: self.connections.purge_credentials,
            PURGE_CONNECTION_DATA_TASK: self.connection_data_purge.purge_task,
            REFRESH_TASK: self.token_refresh.refresh_task,
            SWEEP_TASK: self.token_refresh.schedule.sweep_task,
            PROCESS_WEBHOOK_TASK: self.webhook_processing.process_webhook,
            DELIVER_TASK: self.delivery.deliver,
            HOUSEKEEPING_TASK: self.housekeeping.run_task,
            SYNC_TASK: lambda payload: self.sync_runner.run_task(payload),
            SYNC_DUE_TASK: lambda payload: self.sync_scheduler.due_task(payload),
        }

    def dispatch_task(self, kind: str, payload: dict[str, Any]) -> None:
        """Run one task in-process: the local queue's handler and the ``tasks`` function's
        body. An unknown kind is a permanent failure, recorded and not retried."""
        handler = self.task_handlers.get(kind)
        if handler is None:
            raise TetherError(f"no handler for task kind {kind!r}", code="UNKNOWN_TASK_KIND")
        handler(payload)

    def close(self) -> None:
        """The queue first (its worker runs the services), then the parts below."""
        keys = self.__dict__.get("idempotency_keys")
        close_keys = getattr(keys, "close", None)
        if close_keys is not None:
            close_keys()
        queue = self.__dict__.get("tasks")
        stop = getattr(queue, "stop", None)
        if stop is not None:
            stop()
        close = getattr(queue, "close", None)
        if close is not None:
            close()
        super().close()


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    global _container
    if _container is None:
        with _container_lock:
            if _container is None:
                _container = Container()
    return _container


def reset_container(container: Container | None = None) -> None:
    """Drop (and close) the current container; optionally install ``container`` instead."""
    global _container
    with _container_lock:
        if _container is not None and _container is not container:
            _container.close()
        _container = container


def check_startup() -> Container:
    """Fail the instance at start, not on its first request, when configuration is unusable:
    settings are checked and the keyring is loaded (parsing only; no client is built)."""
    container = get_container()
    _ = container.keyring
    return container

"""Composition root: configuration → adapters → services, built lazily once per instance.

Nothing here runs at import time. A warm function instance builds each client on first use
and keeps it; tests build a :class:`Container` with their own settings (and may hand in any
part) and call :func:`reset_container` between cases.

Size: a composition root: one short lazy part per adapter and service, and nothing else.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tether.config import Settings
from tether.domain.clock import Clock, SystemClock
from tether.domain.errors import ConfigurationError, TetherError
from tether.domain.ids import IdGenerator, RandomIds

if TYPE_CHECKING:
    import httpx

    from tether.api.auth import TokenVerifier
    from tether.api.task_auth import TaskCallerVerifier
    from tether.catalog import Catalog
    from tether.connections.events import ConnectionEvents
    from tether.connections.housekeeping import Housekeeping
    from tether.connections.key_rotation import KeyRotationService
    from tether.connections.service import ConnectionService
    from tether.crypto import Keyring, KeyringSource, Sealer
    from tether.delivery.service import DeliveryService
    from tether.delivery.settings import NotifySettingsService
    from tether.domain.models import Connection
    from tether.fetch.calls import ConnectionCalls
    from tether.fetch.discovery import EndpointDiscovery
    from tether.fetch.probe import ConnectionProber
    from tether.http.client import OutboundClient
    from tether.http.guard import EgressGuard
    from tether.oauth.clients import OAuthClients
    from tether.oauth.flow import OAuthFlowService
    from tether.oauth.lifecycle import TokenLifecycle
    from tether.oauth.model import OAuthClient
    from tether.oauth.token_endpoint import TokenEndpoint
    from tether.oauth.token_storage import TokenStorage
    from tether.ports import ConnectionStore, SecretStore, TaskQueue
    from tether.webhooks.ingestion import WebhookIngestion

__all__ = ["Container", "check_startup", "get_container", "reset_container"]

log = logging.getLogger("tether.bootstrap")

T = TypeVar("T")


class lazy(Generic[T]):  # noqa: N801 - reads like the decorator it is
    """``functools.cached_property`` with a lock: two threads of a warm instance never build
    the same client twice (Python 3.12 dropped the lock from ``cached_property``)."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            raise AttributeError(self._name)
        try:
            return obj.__dict__[self._name]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with obj._lock:
            if self._name not in obj.__dict__:
                obj.__dict__[self._name] = self._build(obj)
            return obj.__dict__[self._name]  # type: ignore[no-any-return]


class Container:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.settings.check()
        self.clock: Clock = clock or SystemClock()
        self.ids: IdGenerator = ids or RandomIds()
        self._lock = threading.RLock()
        for name, value in overrides.items():
            if not isinstance(type(self).__dict__.get(name), lazy):
                raise TypeError(f"unknown override {name!r}")
            self.__dict__[name] = value

    # -- secrets of Tether itself -----------------------------------------------------------
    @lazy
    def keyring_source(self) -> KeyringSource:
        """Where the keyring comes from: ``TETHER_KEYRING`` (fixed for the process) or the
        keyring file, re-read when it changes so ``tether keys generate --add`` and ``tether
        keys rotate`` need no restart. In development a missing file is generated."""
        from tether.crypto import (
            FileKeyringSource,
            Keyring,
            StaticKeyringSource,
            load_keyring_file,
            save_keyring_file,
        )

        s = self.settings
        if s.keyring is not None:
            return StaticKeyringSource(Keyring.from_json(s.keyring.get_secret_value()))
        path = s.default_keyring_file
        with self._lock:
            if load_keyring_file(path) is None:
                if s.mode != "dev" or s.keyring_file is not None:
                    raise ConfigurationError(
                        "no keyring found: set TETHER_KEYRING or TETHER_KEYRING_FILE "
                        "(`tether keys generate` prints one)"
                    )
                save_keyring_file(path, Keyring.generate())
                log.warning(
                    "generated a new development keyring at %s; keep it to keep reading "
                    "stored credentials (never use it outside `tether dev`)",
                    path,
                )
            return FileKeyringSource(path)

    @property
    def keyring(self) -> Keyring:
        """The keyring in use now."""
        return self.keyring_source.current()

    @lazy
    def dev_jwt_secret(self) -> str:
        s = self.settings
        if s.dev_jwt_secret is not None:
            return s.dev_jwt_secret.get_secret_value()
        if s.mode != "dev":
            raise ConfigurationError("TETHER_DEV_JWT_SECRET is required for TETHER_AUTH=dev")
        return self._dev_secret_file("dev_jwt_secret", "a development JWT secret")

    @lazy
    def task_token(self) -> str:
        """The shared secret ``tether dev`` callers of the ``tasks`` function present."""
        s = self.settings
        if s.task_token is not None:
            return s.task_token.get_secret_value()
        if s.mode != "dev":
            raise ConfigurationError("TETHER_TASK_TOKEN is only generated under `tether dev`")
        return self._dev_secret_file("task_token", "a development task token")

    def _dev_secret_file(self, name: str, what: str) -> str:
        path = self.settings.data_dir / name
        with self._lock:
            if path.exists():
                return path.read_text().strip()
            self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            value = secrets.token_urlsafe(48)
            path.touch(mode=0o600)
            path.write_text(value + "\n")
            log.warning("generated %s at %s", what, path)
            return value

    @lazy
    def task_caller_verifier(self) -> TaskCallerVerifier:
        from tether.api import task_auth

        s = self.settings
        if s.task_auth_mode == "token":
            return task_auth.TaskTokenVerifier(self.task_token)
        return task_auth.OidcTaskCallerVerifier(
            jwks_url=s.tasks_oidc_jwks_url,
            audience=s.tasks_audience or s.tasks_url or "",
            service_account=s.tasks_service_account or "",
        )

    @lazy
    def sealer(self) -> Sealer:
        from tether.crypto import Sealer

        return Sealer(self.keyring_source)

    @lazy
    def verifier(self) -> TokenVerifier:
        from tether.api import auth

        return auth.CachingVerifier(self._token_verifier(), clock=self.clock)

    def _token_verifier(self) -> TokenVerifier:
        from tether.api import auth

        s = self.settings
        if s.auth == "dev":
            return auth.DevTokenVerifier(self.dev_jwt_secret, tenant_claim=s.tenant_claim)
        if s.auth == "jwks":
            # Settings.check() guarantees all three.
            return auth.JwksTokenVerifier(
                jwks_url=s.jwks_url or "",
                issuer=s.jwt_issuer or "",
                audience=s.jwt_audience or "",
                algorithms=s.algorithms,
                tenant_claim=s.tenant_claim,
            )
        return auth.firebase_verifier(
            project_id=s.firebase_project or "",
            jwks_url=s.firebase_jwks_url,
            tenant_claim=s.tenant_claim,
        )

    # -- adapters ---------------------------------------------------------------------------
    @lazy
    def store(self) -> ConnectionStore:
        s = self.settings
        if s.store == "firestore":
            from tether.adapters.firestore import FirestoreConnectionStore

            return FirestoreConnectionStore.for_project(
                s.gcp_project or "", s.firestore_database, retention=s.retention
            )
        from tether.adapters.sqlite import SqliteConnectionStore

        return SqliteConnectionStore(s.sqlite_path, retention=s.retention)

    @lazy
    def secrets(self) -> SecretStore:
        s = self.settings
        if s.secrets == "secret_manager":
            from tether.adapters.secret_manager import SecretManagerSecretStore
            from tether.adapters.secret_manager.client import secret_manager_client

            return SecretManagerSecretStore(
                secret_manager_client(),
                project=s.gcp_project or "",
                locations=s.secret_location_list,
                kms_key=s.secret_kms_key,
                cache_seconds=s.secret_cache_seconds,
                cache_size=s.secret_cache_size,
            )
        from tether.adapters.db_secrets import DbSecretStore, RetiredVersions

        retired: RetiredVersions
        if s.store == "firestore":
            from tether.adapters.firestore.retired_versions import FirestoreRetiredVersions
            from tether.adapters.firestore.store import firestore_client

            # Tombstones live next to the records that hold the sealed credentials.
            retired = FirestoreRetiredVersions(
                firestore_client(s.gcp_project or "", s.firestore_database)
            )
        else:
            from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions

            retired = SqliteRetiredVersions(s.sqlite_path)
        return DbSecretStore(self.sealer, retired=retired)

    @lazy
    def tasks(self) -> TaskQueue:
        s = self.settings
        if s.tasks == "cloud_tasks":
            from tether.adapters.cloud_tasks import CloudTasksQueue
            from tether.adapters.cloud_tasks.client import cloud_tasks_client

            # Settings.check() guarantees the project, URL and service account.
            return CloudTasksQueue(
                cloud_tasks_client(),
                project=s.gcp_project or "",
                location=s.tasks_location,
                queue_for=s.task_queue,
                tasks_url=s.tasks_url or "",
                service_account=s.tasks_service_account or "",
                audience=s.tasks_audience,
            )
        from datetime import timedelta

        from tether.adapters.local_tasks import LocalTaskQueue, Periodic
        from tether.connections.housekeeping import HOUSEKEEPING_TASK
        from tether.oauth.lifecycle import SWEEP_TASK

        # Stands in for Cloud Scheduler: housekeeping once per interval and the token sweep
        # (the safety net of proactive refresh) three times per sweep window, by themselves.
        # On the container's clock, like every other part: tests move it by hand.
        queue = LocalTaskQueue(
            s.tasks_path,
            self.dispatch_task,
            clock=self.clock,
            max_attempts=s.task_max_attempts,
            periodic=[
                Periodic(HOUSEKEEPING_TASK, timedelta(seconds=s.housekeeping_interval_seconds)),
                Periodic(SWEEP_TASK, timedelta(seconds=max(60, s.oauth_sweep_window_seconds // 3))),
            ],
        )
        if s.task_worker:
            queue.start()
        return queue

    @lazy
    def catalog(self) -> Catalog:
        from tether.catalog import load_catalog

        defaults = self.settings.catalog_config_defaults
        return load_catalog().with_config_defaults(defaults) if defaults else load_catalog()

    # -- services ---------------------------------------------------------------------------
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
            revoke=lambda connection: self.token_lifecycle.revoke(connection),
            check_notify_url=lambda url: self.notify_settings.check_notify_url(url),
            events=self.connection_events,
        )

    @lazy
    def connection_events(self) -> ConnectionEvents:
        """The one publisher of connection lifecycle events, for every service."""
        from tether.connections.events import ConnectionEvents

        return ConnectionEvents(lambda: self.tasks)

    @lazy
    def token_storage(self) -> TokenStorage:
        from tether.oauth.token_storage import TokenStorage

        return TokenStorage(
            store=self.store, secrets=self.secrets, sealer=self.sealer, clock=self.clock
        )

    @lazy
    def http(self) -> httpx.Client:
        """The outbound HTTP client for provider calls (token endpoints, APIs)."""
        import httpx

        from tether.http.guarded_transport import GuardedTransport

        return httpx.Client(
            transport=GuardedTransport(self.egress_guard),
            timeout=httpx.Timeout(10.0, connect=5.0),
            follow_redirects=False,
            trust_env=False,
        )

    @lazy
    def egress_guard(self) -> EgressGuard:
        from tether.http.guard import EgressGuard

        return EgressGuard.from_text(self.settings.egress_allowlist)

    @lazy
    def outbound(self) -> OutboundClient:
        """The outbound client for provider APIs and user-configured URLs."""
        from tether.http.client import OutboundClient
        from tether.http.rate_limit_store import StoreRateLimiter

        return OutboundClient(
            self.egress_guard, rate_limiter=StoreRateLimiter(self.store, self.clock)
        )

    @lazy
    def connection_prober(self) -> ConnectionProber:
        from tether.fetch.probe import ConnectionProber, pg8000_connect

        lifecycle = self.token_lifecycle
        return ConnectionProber(
            connections=self.connections,
            store=self.store,
            catalog=lambda: self.catalog,
            client=self.outbound,
            clock=self.clock,
            ids=self.ids,
            oauth_token=lifecycle.access_token,
            oauth_refresh=lambda c: lifecycle.access_token(lifecycle.force_refresh(c)),
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
            lifecycle=lambda: self.token_lifecycle,
            default_rate=RateSpec(per_minute=s.rate_limit_per_minute, burst=s.rate_limit_burst),
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
    def delivery_client(self) -> OutboundClient:
        """The client of deliveries to tenants: the queue retries a delivery, not the client,
        and a redirect counts as a failed attempt (a followed 302 would turn the POST into a
        bodiless GET)."""
        from tether.http.client import OutboundClient

        return OutboundClient(self.egress_guard, max_retries=0, max_redirects=0)

    @lazy
    def delivery(self) -> DeliveryService:
        from tether.delivery.service import DeliveryService

        return DeliveryService(
            self.store,
            self.notify_settings,
            self.delivery_client,
            self.clock,
            max_attempts=self.settings.task_max_attempts,
        )

    @lazy
    def webhook_ingestion(self) -> WebhookIngestion:
        from tether.webhooks.ingestion import WebhookIngestion

        s = self.settings
        return WebhookIngestion(
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
            public_url=s.public_url,
            find_by_route=self.store.find_connection_by_route,
            event_ttl_days=s.retention_webhook_events_days,
        )

    @lazy
    def housekeeping(self) -> Housekeeping:
        from tether.adapters.local_tasks import LocalTaskQueue
        from tether.connections.housekeeping import Housekeeping

        # Cloud Tasks deletes its tasks itself; the embedded queue's are ours to purge.
        purge_finished_tasks = None
        if self.settings.tasks == "local" and isinstance(self.tasks, LocalTaskQueue):
            purge_finished_tasks = self.tasks.purge_finished
        return Housekeeping(
            store=self.store,
            clock=self.clock,
            retention=self.settings.retention,
            purge_finished_tasks=purge_finished_tasks,
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
    def oauth_clients(self) -> OAuthClients:
        from tether.oauth.clients import OAuthClients

        return OAuthClients(self.settings.oauth_clients)

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
            allowed_return_urls=s.return_url_prefixes,
            state_ttl_seconds=s.oauth_state_ttl_seconds,
            on_tokens_stored=self._schedule_refresh,
            events=self.connection_events,
        )

    def _schedule_refresh(self, connection: Connection) -> None:
        self.token_lifecycle.schedule.schedule_refresh(connection)

    def oauth_client_for(self, connection: Connection) -> OAuthClient:
        """The provider client of a stored connection (a custom provider's client secret is
        in the connection's credentials)."""
        provider = self.catalog.get(connection.provider)
        credentials: dict[str, Any] = {}
        if self.oauth_clients.is_custom(provider) and connection.credential_ref is not None:
            credentials = self.secrets.get(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                ref=connection.credential_ref,
            )
        return self.oauth_clients.client(provider, connection.config, credentials)

    @lazy
    def token_lifecycle(self) -> TokenLifecycle:
        from tether.oauth.lifecycle import TokenLifecycle
        from tether.oauth.refresh_policy import catalog_refresh_policies

        s = self.settings
        return TokenLifecycle(
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
        from tether.connections.housekeeping import HOUSEKEEPING_TASK
        from tether.connections.service import PURGE_CREDENTIALS_TASK
        from tether.delivery.service import DELIVER_TASK
        from tether.oauth.lifecycle import REFRESH_TASK, SWEEP_TASK
        from tether.webhooks.ingestion import PROCESS_WEBHOOK_TASK

        return {
            PURGE_CREDENTIALS_TASK: self.connections.purge_credentials,
            REFRESH_TASK: self.token_lifecycle.refresh_task,
            SWEEP_TASK: self.token_lifecycle.schedule.sweep_task,
            PROCESS_WEBHOOK_TASK: self.webhook_ingestion.process_webhook,
            DELIVER_TASK: self.delivery.deliver,
            HOUSEKEEPING_TASK: self.housekeeping.run_task,
        }

    def dispatch_task(self, kind: str, payload: dict[str, Any]) -> None:
        """Run one task in-process: the local queue's handler and the ``tasks`` function's
        body. An unknown kind is a permanent failure, recorded and not retried."""
        handler = self.task_handlers.get(kind)
        if handler is None:
            raise TetherError(f"no handler for task kind {kind!r}", code="UNKNOWN_TASK_KIND")
        handler(payload)

    def close(self) -> None:
        for name in ("tasks", "store", "secrets", "http", "outbound", "delivery_client"):
            part = self.__dict__.get(name)
            stop = getattr(part, "stop", None)
            if stop is not None:
                stop()
            close = getattr(part, "close", None)
            if close is not None:
                close()


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

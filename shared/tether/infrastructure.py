"""What an instance needs before any capability: its settings, clock and id generator, its own
secrets and the checks of its callers, the adapters behind the ports, the outbound HTTP clients
and the catalog, each built once, on first use (:class:`~tether.lazy.lazy`).

:class:`~tether.bootstrap.Container` wires the capabilities' services over these parts. Tests
build one with their own settings and may hand in any part (``Container(settings, store=…)``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from tether.config import Settings
from tether.domain.clock import Clock, SystemClock
from tether.domain.ids import IdGenerator, RandomIds
from tether.lazy import lazy

if TYPE_CHECKING:
    import httpx

    from tether.api.auth import TokenVerifier
    from tether.api.task_auth import TaskCallerVerifier
    from tether.catalog import Catalog
    from tether.crypto import Keyring, KeyringSource, Sealer
    from tether.http.client import OutboundClient
    from tether.http.guard import EgressGuard
    from tether.http.host_transports import HostTransports
    from tether.ports import ConnectionStore, SecretStore

__all__ = ["Infrastructure"]


class Infrastructure:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        **overrides: Any,
    ) -> None:
        """``overrides``: parts handed in instead of built (any :class:`lazy` part by name)."""
        self.settings = settings or Settings.from_env()
        self.settings.check()
        self.clock: Clock = clock or SystemClock()
        self.ids: IdGenerator = ids or RandomIds()
        self._lock = threading.RLock()
        for name, value in overrides.items():
            if not any(isinstance(k.__dict__.get(name), lazy) for k in type(self).__mro__):
                raise TypeError(f"unknown override {name!r}")
            self.__dict__[name] = value

    # -- secrets of Tether itself (tether.crypto.instance_secrets says where they come from) --
    @lazy
    def keyring_source(self) -> KeyringSource:
        from tether.adapters.keyring_origins import remote_keyring_source

        remote = remote_keyring_source(self.settings)
        if remote is not None:
            return remote
        from tether.crypto.instance_secrets import keyring_source_for

        return keyring_source_for(self.settings)

    @property
    def keyring(self) -> Keyring:
        """The keyring in use now."""
        return self.keyring_source.current()

    @lazy
    def dev_jwt_secret(self) -> str:
        from tether.crypto.instance_secrets import dev_jwt_secret

        return dev_jwt_secret(self.settings)

    @lazy
    def task_token(self) -> str:
        """The shared secret ``tether dev`` callers of the ``tasks`` function present."""
        from tether.crypto.instance_secrets import task_token

        return task_token(self.settings)

    @lazy
    def task_caller_verifier(self) -> TaskCallerVerifier:
        from tether.api.task_auth import task_caller_verifier_for

        return task_caller_verifier_for(self.settings, task_token=lambda: self.task_token)

    @lazy
    def sealer(self) -> Sealer:
        from tether.crypto import Sealer

        return Sealer(self.keyring_source)

    @lazy
    def verifier(self) -> TokenVerifier:
        from tether.api.auth import token_verifier_for

        return token_verifier_for(
            self.settings, dev_secret=lambda: self.dev_jwt_secret, clock=self.clock
        )

    # -- adapters behind the ports (tether.adapters.backends chooses them) -------------------
    @lazy
    def store(self) -> ConnectionStore:
        from tether.adapters.backends import connection_store

        return connection_store(self.settings)

    @lazy
    def secrets(self) -> SecretStore:
        from tether.adapters.backends import secret_store

        return secret_store(self.settings, self.sealer, clock=self.clock)

    @lazy
    def catalog(self) -> Catalog:
        from tether.catalog import load_catalog

        s = self.settings
        catalog = load_catalog()
        if s.catalog_config_defaults:
            catalog = catalog.with_config_defaults(s.catalog_config_defaults)
        if s.catalog_api_base_urls:
            catalog = catalog.with_api_base_urls(s.catalog_api_base_urls)
        if s.catalog_authorization_servers:
            from tether.catalog.authorization_servers import with_authorization_servers

            catalog = with_authorization_servers(catalog, s.catalog_authorization_servers)
        return catalog

    # -- outbound HTTP ----------------------------------------------------------------------
    @lazy
    def http(self) -> httpx.Client:
        """The outbound HTTP client for provider calls (token endpoints, APIs)."""
        import httpx

        from tether.http.guarded_transport import GuardedTransport

        return httpx.Client(
            transport=GuardedTransport(self.egress_guard, transports=self.host_transports),
            timeout=httpx.Timeout(10.0, connect=5.0),
            follow_redirects=False,
            trust_env=False,
        )

    @lazy
    def host_transports(self) -> HostTransports:
        """The one bounded pool of per-host transports every outbound client draws from."""
        from tether.http.host_transports import HostTransports

        return HostTransports(max_hosts=self.settings.outbound_max_host_pools)

    @lazy
    def egress_guard(self) -> EgressGuard:
        from tether.http.dns_cache import CachingResolver
        from tether.http.guard import EgressGuard, default_resolver

        # DNS answers kept briefly; every address is still checked on every request.
        return EgressGuard.from_text(
            self.settings.egress_allowlist, CachingResolver(default_resolver)
        )

    @lazy
    def outbound(self) -> OutboundClient:
        """The outbound client for provider APIs and user-configured URLs."""
        from tether.http.client import OutboundClient
        from tether.http.rate_limit_store import StoreRateLimiter

        return OutboundClient(
            self.egress_guard,
            transports=self.host_transports,
            rate_limiter=StoreRateLimiter(self.store, self.clock),
        )

    @lazy
    def delivery_client(self) -> OutboundClient:
        """The client of deliveries to tenants: the queue retries a delivery, not the client,
        and a redirect counts as a failed attempt (a followed 302 would turn the POST into a
        bodiless GET)."""
        from tether.http.client import OutboundClient

        return OutboundClient(
            self.egress_guard, transports=self.host_transports, max_retries=0, max_redirects=0
        )

    def close(self) -> None:
        """Stop and close what was built; the shared transport pool last (the clients only
        draw from it)."""
        for name in ("store", "secrets", "http", "outbound", "delivery_client", "host_transports"):
            part = self.__dict__.get(name)
            stop = getattr(part, "stop", None)
            if stop is not None:
                stop()
            close = getattr(part, "close", None)
            if close is not None:
                close()

"""Whether an inbound delivery really comes from its sender: which signing secrets verify it,
tried in turn, and the verdict of the provider's signature scheme over the raw body.

A connection whose provider keeps its signing secret per connection (the catalog's
``secret_field``: Stripe, Twilio, the generic ``webhook`` connector) is verified with that
field of its credentials, read with purpose ``webhook`` (audited); the others with the
app-level secrets from Tether's configuration. On a provider's app-level URL the app-level
secrets come first (a Stripe Connect platform's endpoint secret), then the secret of the
connection the route names. Each source is read only when the previous ones did not verify;
no secret at all fails closed (401, ``no_secret``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tether.domain.models import Connection, Principal
from tether.ttl_cache import TtlCache
from tether.webhooks.model import InboundRequest, SignatureError, SignatureScheme

if TYPE_CHECKING:
    from tether.catalog import WebhookSpec
    from tether.connections.service import ConnectionService
    from tether.domain.clock import Clock

__all__ = ["SYSTEM_ACTOR", "DeliveryVerification", "SchemeFactory"]

log = logging.getLogger("tether.webhooks")

SchemeFactory = Callable[[str, Mapping[str, Any] | None], SignatureScheme]
"""``scheme_for(name, options)`` of :mod:`tether.webhooks.signatures`."""

SYSTEM_ACTOR = "system:webhooks"
_SecretKey = tuple[str, str, str, str]  # tenant, connection, credential ref, field
_SECRET_CACHE_SECONDS = 300.0
_SECRET_CACHE_SIZE = 1024
_SCHEMES_KEPT = 512


def _default_scheme_for(name: str, options: Mapping[str, Any] | None = None) -> SignatureScheme:
    # Imported on the first verification: only instances that receive webhooks load it.
    from tether.webhooks.signatures import scheme_for

    return scheme_for(name, options)


class DeliveryVerification:
    """``app_secrets(provider)``: the app-level secrets Tether is configured with; ``schemes``:
    the signature scheme factory (default: ``tether.webhooks.signatures.scheme_for``)."""

    def __init__(
        self,
        *,
        connections: ConnectionService,
        app_secrets: Callable[[str], list[str]],
        schemes: SchemeFactory | None,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._app_secrets = app_secrets
        self._schemes: SchemeFactory = schemes or _default_scheme_for
        self._clock = clock
        self._secret_cache: TtlCache[_SecretKey, tuple[str, ...]] = TtlCache(
            ttl=_SECRET_CACHE_SECONDS, size=_SECRET_CACHE_SIZE
        )
        # Each catalog entry's scheme, built on its first delivery: keyed by the spec's id and
        # kept with the spec itself (so the id cannot be reused while its entry lives), since
        # a spec's scheme never changes and verifying is pure.
        self._built: dict[int, tuple[WebhookSpec, SignatureScheme]] = {}

    def verify_for_connection(
        self, connection: Connection, spec: WebhookSpec, request: InboundRequest
    ) -> None:
        """A delivery to ``connection``'s own URL."""
        provider = connection.provider
        field = spec.secret_field
        if field is None:
            sources = [lambda: self._app_secrets(provider)]
        else:
            sources = [lambda: self._connection_secrets(connection, field)]
        self._verify(provider, spec, request, sources)

    def verify_for_provider(
        self,
        provider_key: str,
        spec: WebhookSpec,
        request: InboundRequest,
        routed: Connection | None,
    ) -> None:
        """A delivery to the provider's app-level URL whose route names ``routed``: trusted
        once its own secret (or the app's) has verified the delivery."""
        sources = [lambda: self._app_secrets(provider_key)]
        field = spec.secret_field
        if field is not None and routed is not None:
            connection = routed
            sources.append(lambda: self._connection_secrets(connection, field))
        self._verify(provider_key, spec, request, sources)

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
        scheme = self._scheme(spec)
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

    def _scheme(self, spec: WebhookSpec) -> SignatureScheme:
        built = self._built.get(id(spec))
        if built is not None and built[0] is spec:
            return built[1]
        scheme = self._schemes(spec.scheme, spec.options or None)
        if len(self._built) >= _SCHEMES_KEPT:  # a catalog of new spec objects: start again
            self._built.clear()
        self._built[id(spec)] = (spec, scheme)
        return scheme


def _no_secret() -> SignatureError:
    return SignatureError("no signing secret is configured", reason="no_secret")

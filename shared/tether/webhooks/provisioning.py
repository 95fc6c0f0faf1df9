"""A connection's own webhook URL: issued when the connection is created, replaced on demand.

The URL is ``<public URL>/webhooks/<token>``. The token is 256 random bits; only its SHA-256
is stored (``connection.webhook.token_hash``), next to a *masked* URL (``…/webhooks/…abcd``)
for display. The full URL is returned once, when it is issued, and cannot be recovered from
storage: a lost URL is replaced with :meth:`WebhookProvisioning.rotate_webhook`.

A connection gets a URL of its own when it is created if its provider's signing secret is
per connection (the catalog's ``secret_field``: Stripe, Twilio, GitHub repository webhooks,
the generic ``webhook`` connector) or its provider's payload names no account (no
``route_field``: only the URL can say whose a delivery is); the others are reached on their
provider's app-level URL (:mod:`tether.webhooks.intake`), and any connection of a provider
with webhooks can ask for a URL of its own (:meth:`WebhookProvisioning.rotate`). The rule is
the same whichever way the connection is made: ``POST /connections`` shows the URL in its
answer; an OAuth flow shows it in the answer to ``oauth_start`` and the callback stores it on
the connection it creates (:meth:`WebhookProvisioning.prepare`). The answer
that shows the URL says how deliveries to it are verified and routed (:class:`WebhookRouting`).
For a Standard Webhooks connection created without a signing secret, Tether mints the
``whsec_`` secret and stores it with the credentials; it too is shown once.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as random_secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.domain.compare_and_set import compare_and_set
from tether.domain.errors import InvalidRequest, NotFound
from tether.domain.models import AuditAction, AuditEvent, Connection, Principal, WebhookInfo

if TYPE_CHECKING:
    from tether.catalog import Catalog
    from tether.connections.commands import CreateConnection
    from tether.connections.service import ConnectionService
    from tether.domain.clock import Clock
    from tether.domain.ids import IdGenerator
    from tether.ports import ConnectionRepository

__all__ = [
    "WEBHOOKS_PATH",
    "IssuedWebhook",
    "PreparedWebhook",
    "WebhookProvisioning",
    "WebhookRouting",
    "hash_token",
    "new_signing_secret",
]

WEBHOOKS_PATH = "/webhooks"
_TOKEN_BYTES = 32  # 256 bits
_SIGNING_SECRET_BYTES = 32


@dataclass(frozen=True)
class WebhookRouting:
    """How deliveries reach a connection, for whoever registers its URL with the provider.

    The connection's own URL (``/webhooks/<token>``) names the connection itself: it is the
    way in for senders whose payload names no account (a GitHub repository webhook, a generic
    sender). ``signed_with``: ``credentials.<field>`` (the connection's own signing secret) or
    ``app`` (Tether's app-level secret of the provider). ``provider_url`` and ``route_field``:
    the provider's app-level URL and the payload field it routes by, when it has one (a GitHub
    App's ``installation.id``)."""

    signed_with: str
    provider_url: str | None = None
    route_field: str | None = None
    routing: str = "connection_url"


@dataclass(frozen=True)
class IssuedWebhook:
    """What a new connection's creator is shown once: its webhook URL, and the signing secret
    Tether minted for it (``None`` when the creator gave one or the scheme has none)."""

    url: str
    secret: str | None = None
    routing: WebhookRouting | None = None


@dataclass(frozen=True)
class PreparedWebhook:
    """A new connection's own webhook URL, issued before the connection is written: what to
    store on it (``info``: the token's hash and the masked URL), what to show once
    (``issued``), and the credentials to store, with the signing secret Tether minted."""

    info: WebhookInfo
    issued: IssuedWebhook
    credentials: dict[str, Any]


def hash_token(token: str) -> str:
    """What is stored for a webhook token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_signing_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 256 random bits."""
    raw = random_secrets.token_bytes(_SIGNING_SECRET_BYTES)
    return "whsec_" + base64.b64encode(raw).decode("ascii")


class WebhookProvisioning:
    def __init__(
        self,
        *,
        store: ConnectionRepository,
        connections: ConnectionService,
        catalog: Callable[[], Catalog],
        clock: Clock,
        ids: IdGenerator,
        public_url: str | None = None,
    ) -> None:
        """``public_url``: Tether's public base URL (``TETHER_PUBLIC_URL``); issued webhook
        URLs are ``<public_url>/webhooks/<token>`` (just the path without it)."""
        self._store = store
        self._connections = connections
        self._catalog = catalog
        self._clock = clock
        self._ids = ids
        self._public_url = (public_url or "").rstrip("/")

    def create_connection(
        self, principal: Principal, request: CreateConnection
    ) -> tuple[Connection, IssuedWebhook | None]:
        """``POST /connections``: the connection as created (in one write with its webhook
        URL's hash, when it gets a URL of its own) and what to show of that URL once."""
        prepared = self.prepare(request.provider, request.credentials)
        if prepared is None:
            return self._connections.create(principal, request), None
        request = request.model_copy(update={"credentials": prepared.credentials})
        connection = self._connections.create(principal, request, webhook=prepared.info)
        return connection, prepared.issued

    def prepare(self, provider_key: str, credentials: Mapping[str, Any]) -> PreparedWebhook | None:
        """The URL of its own a new connection of ``provider_key`` gets (``None``: none, see
        the module docstring), and for a Standard Webhooks entry created without its signing
        secret, that secret minted into the credentials."""
        spec = self._catalog().get(provider_key).webhook
        if (
            spec is None
            or spec.scheme == "none"
            or (spec.secret_field is None and spec.route_field)
        ):
            return None
        token, token_hash, _ = self.issue_token()
        secret = None
        field = spec.secret_field
        stored = dict(credentials)
        if field and spec.scheme == "standard_webhooks" and not stored.get(field):
            secret = new_signing_secret()
            stored[field] = secret
        return PreparedWebhook(
            info=WebhookInfo(url=self.masked_url(token), token_hash=token_hash),
            issued=IssuedWebhook(
                url=self.webhook_url(token), secret=secret, routing=self._routing(provider_key)
            ),
            credentials=stored,
        )

    def rotate_webhook(self, principal: Principal, connection_id: str) -> str:
        """Give the connection a new webhook URL (the old one stops working at once) and
        return it. It is shown this once: only its hash and a masked form are stored."""
        return self.rotate(principal, connection_id).url

    def rotate(self, principal: Principal, connection_id: str) -> IssuedWebhook:
        """:meth:`rotate_webhook`, with how deliveries to the new URL are routed."""

        def attempt(_again: bool) -> IssuedWebhook:
            current = self._connections.get(principal, connection_id)
            self._check_supported(current.provider)
            url = self._install_token(current, actor=principal.user_id)
            return IssuedWebhook(url=url, routing=self._routing(current.provider))

        return compare_and_set(attempt, what="the connection")

    def _routing(self, provider_key: str) -> WebhookRouting | None:
        spec = self._catalog().get(provider_key).webhook
        if spec is None:
            return None
        field = spec.secret_field
        routed = spec.route_field is not None
        return WebhookRouting(
            signed_with="app" if field is None else f"credentials.{field}",
            provider_url=f"{self._public_url}{WEBHOOKS_PATH}/providers/{provider_key}"
            if routed
            else None,
            route_field=spec.route_field,
        )

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

    def _check_supported(self, provider_key: str) -> None:
        try:
            spec = self._catalog().get(provider_key).webhook
        except NotFound:
            raise _unsupported() from None
        if spec is None or spec.scheme == "none":
            raise _unsupported()

    def _install_token(self, current: Connection, *, actor: str) -> str:
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
        self._store.update_connection(changed, expected_version=current.version, audit=[updated])
        return self.webhook_url(token)


def _unsupported() -> InvalidRequest:
    return InvalidRequest("this provider does not send webhooks", code="WEBHOOKS_NOT_SUPPORTED")

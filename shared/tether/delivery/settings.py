"""Tenant notify settings: where Tether delivers a tenant's events and what it signs them with.

Deliveries are signed per the Standard Webhooks spec with a per-tenant ``whsec_`` secret
(base64 of 32 random bytes). Secrets are stored sealed (purpose ``notify_secret``, bound to
the tenant and the secret's id) and shown in plaintext exactly once: when
:meth:`NotifySettingsService.rotate_secret` creates one. Rotation overlaps: the secrets it
replaces keep signing, next to the new one, until ``now + overlap_hours``, so a receiver
holding either verifies every delivery meanwhile (Standard Webhooks carries one signature per
secret in ``webhook-signature``).

A tenant with no secret gets one on its first delivery (:meth:`signing_secrets`) or first
rotation. A secret made by a delivery was never shown to anyone: a tenant learns a secret by
rotating, and the overlap covers deliveries already in flight.

A notify URL must be https; plain http only to a ``host:port`` the egress guard allowlists
(local receivers in development and tests). Either way it is checked by the guard like every
outbound URL: private, loopback, link-local and metadata destinations are refused with
``BLOCKED_DESTINATION`` (400).
"""

from __future__ import annotations

import base64
import logging
import secrets as _secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tether.crypto import Sealer
from tether.crypto.purposes import NOTIFY_SECRET_PURPOSE
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock, iso_utc
from tether.domain.compare_and_set import compare_and_set
from tether.domain.errors import InvalidRequest
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditEvent, NotifySecret, Principal, TenantSettings
from tether.http.guard import EgressGuard, Target
from tether.http.model import OutboundError
from tether.logs import register_secret
from tether.ports import TenantSettingsRepository

__all__ = [
    "MAX_NOTIFY_SECRETS",
    "MAX_OVERLAP_HOURS",
    "NOTIFY_SECRET_PURPOSE",
    "NotifySecretInfo",
    "NotifySettingsService",
    "NotifySettingsView",
]

log = logging.getLogger("tether.notify")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes
MAX_OVERLAP_HOURS = 24 * 30
# Current secret plus previous ones still in their overlap. Past this, rotating drops the
# oldest previous secrets early (it would take many rotations inside one overlap).
MAX_NOTIFY_SECRETS = 10
MAX_URL_LENGTH = 2048

_DEFAULT_PORTS = {"http": 80, "https": 443}

AUDIT_URL_UPDATED = "notify.url_updated"
AUDIT_SECRET_ROTATED = "notify.secret_rotated"  # noqa: S105 - an action name


@dataclass(frozen=True, slots=True)
class NotifySecretInfo:
    """What a caller may see of a signing secret: never the secret."""

    id: str
    created_at: datetime
    expires_at: datetime | None

    @property
    def current(self) -> bool:
        return self.expires_at is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "current": self.current,
            "created_at": _time(self.created_at),
            "expires_at": _time(self.expires_at),
        }


@dataclass(frozen=True, slots=True)
class NotifySettingsView:
    """A tenant's notify settings as callers see them. ``secrets``: the current one first,
    then previous ones still signing, newest first. ``version`` is ``None`` before anything
    was stored."""

    notify_url: str | None
    secrets: tuple[NotifySecretInfo, ...]
    version: int | None
    updated_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "notify_url": self.notify_url,
            "secrets": [s.as_dict() for s in self.secrets],
            "version": self.version,
            "updated_at": _time(self.updated_at),
        }


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def _allowlisted(guard: EgressGuard, target: Target) -> bool:
    """Whether the guard lets ``target``'s exact ``host:port`` through whatever it resolves to
    (``TETHER_EGRESS_ALLOWLIST``)."""
    return guard.is_allowlisted(target.host, target.port)


def _live(secrets: list[NotifySecret], now: datetime) -> list[NotifySecret]:
    """Secrets still signing at ``now``, the current one first, then newest first."""
    alive = [s for s in secrets if s.expires_at is None or s.expires_at > now]
    return sorted(alive, key=lambda s: (s.expires_at is None, s.created_at), reverse=True)


class NotifySettingsService:
    def __init__(
        self,
        store: TenantSettingsRepository,
        sealer: Sealer,
        clock: Clock,
        ids: IdGenerator,
        guard: EgressGuard,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._ids = ids
        self._guard = guard

    # -- queries ----------------------------------------------------------------------------
    def get(self, principal: Principal) -> NotifySettingsView:
        settings = self._store.get_tenant_settings(principal.tenant_id)
        if settings is None:
            return NotifySettingsView(notify_url=None, secrets=(), version=None, updated_at=None)
        now = self._clock.now()
        return NotifySettingsView(
            notify_url=settings.notify_url,
            secrets=tuple(
                NotifySecretInfo(id=s.id, created_at=s.created_at, expires_at=s.expires_at)
                for s in _live(settings.notify_secrets, now)
            ),
            version=settings.version,
            updated_at=settings.updated_at,
        )

    def notify_url(self, tenant_id: str) -> str | None:
        """The tenant's configured notify URL, if any."""
        settings = self._store.get_tenant_settings(tenant_id)
        return None if settings is None else settings.notify_url

    def check_notify_url(self, url: str) -> Target:
        """The checked destination of ``url``, or :class:`InvalidRequest` (400): code
        ``INVALID_NOTIFY_URL`` (malformed, not https, credentials or fragment in it),
        ``BLOCKED_DESTINATION`` (a private or internal target), ``NOTIFY_URL_UNRESOLVABLE``
        (the name does not resolve now). Resolves the host once (DNS)."""
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
            raise InvalidRequest(
                f"notify_url must be a URL of at most {MAX_URL_LENGTH} characters",
                code="INVALID_NOTIFY_URL",
            )
        try:
            parts = urlsplit(url)
        except ValueError:
            raise InvalidRequest("notify_url is not a URL", code="INVALID_NOTIFY_URL") from None
        if parts.scheme.lower() not in _DEFAULT_PORTS:
            raise InvalidRequest("notify_url must be an https URL", code="INVALID_NOTIFY_URL")
        if parts.fragment or "#" in url:
            raise InvalidRequest("notify_url must not have a fragment", code="INVALID_NOTIFY_URL")
        try:
            target = self._guard.check(url)
        except OutboundError as exc:
            if exc.failure == "blocked":
                raise InvalidRequest(
                    f"{exc.message} (an endpoint on this machine or network is reachable only "
                    "when the operator lists its host:port in TETHER_EGRESS_ALLOWLIST and "
                    "restarts Tether)",
                    code="BLOCKED_DESTINATION",
                ) from None
            if exc.failure == "connect":
                raise InvalidRequest(
                    "the notify_url host does not resolve", code="NOTIFY_URL_UNRESOLVABLE"
                ) from None
            raise InvalidRequest(exc.message, code="INVALID_NOTIFY_URL") from None
        if target.scheme != "https" and not _allowlisted(self._guard, target):
            raise InvalidRequest("notify_url must be an https URL", code="INVALID_NOTIFY_URL")
        return target

    # -- commands ---------------------------------------------------------------------------
    def set_notify_url(self, principal: Principal, url: str | None) -> NotifySettingsView:
        """Set (or, with ``None``, clear) where the tenant's events are delivered."""
        host = None if url is None else self.check_notify_url(url).host

        def change(settings: TenantSettings, now: datetime) -> None:
            settings.notify_url = url

        self._update(
            principal.tenant_id,
            change,
            audit=lambda: self._entry(principal, AUDIT_URL_UPDATED, host=host, cleared=url is None),
        )
        return self.get(principal)

    def rotate_secret(self, principal: Principal, *, overlap_hours: int = 24) -> str:
        """Create a new current signing secret and return it: the only time it is shown.
        Secrets it replaces keep signing until ``now + overlap_hours`` (those due earlier keep
        their earlier expiry); expired ones are dropped. ``overlap_hours=0`` retires them at
        once (a leaked secret)."""
        if (
            isinstance(overlap_hours, bool)
            or not isinstance(overlap_hours, int)
            or not 0 <= overlap_hours <= MAX_OVERLAP_HOURS
        ):
            raise InvalidRequest(
                f"overlap_hours must be a whole number from 0 to {MAX_OVERLAP_HOURS}",
                code="INVALID_OVERLAP",
            )
        overlap = timedelta(hours=overlap_hours)
        created: list[tuple[str, str]] = []

        def change(settings: TenantSettings, now: datetime) -> None:
            until = now + overlap
            previous = [
                s.model_copy(
                    update={
                        "expires_at": until if s.expires_at is None else min(s.expires_at, until)
                    }
                )
                for s in _live(settings.notify_secrets, now)
            ]
            previous = [s for s in previous if s.expires_at is not None and s.expires_at > now]
            secret_id, plaintext, record = self._new_secret(settings.tenant_id, now)
            created[:] = [(secret_id, plaintext)]
            settings.notify_secrets = [record, *previous][:MAX_NOTIFY_SECRETS]

        self._update(
            principal.tenant_id,
            change,
            audit=lambda: self._entry(
                principal,
                AUDIT_SECRET_ROTATED,
                secret_id=created[0][0],
                overlap_hours=overlap_hours,
            ),
        )
        return created[0][1]

    def signing_secrets(self, tenant_id: str) -> list[str]:
        """Every secret a delivery is signed with now, in plaintext: the current one first,
        then previous ones still in their overlap. Creates the tenant's first secret when it
        has none. The values are registered with the log redactor."""

        def attempt(_again: bool) -> list[str]:
            now = self._clock.now()
            settings = self._store.get_tenant_settings(tenant_id)
            live = [] if settings is None else _live(settings.notify_secrets, now)
            if live:
                return [self._open(tenant_id, s) for s in live]
            fresh = settings or TenantSettings(tenant_id=tenant_id, updated_at=now)
            _secret_id, plaintext, record = self._new_secret(tenant_id, now)
            changed = fresh.model_copy(
                update={"notify_secrets": [record], "updated_at": now}, deep=True
            )
            # A conflict: someone else wrote (perhaps a secret), so read again.
            self._store.put_tenant_settings(
                changed, expected_version=None if settings is None else settings.version
            )
            log.info("created the first notify signing secret of a tenant")
            return [plaintext]

        return compare_and_set(attempt, what="the tenant settings")

    # -- helpers ----------------------------------------------------------------------------
    def _new_secret(self, tenant_id: str, now: datetime) -> tuple[str, str, NotifySecret]:
        secret_id = self._ids.new("whs")
        plaintext = SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode()
        register_secret(plaintext)
        sealed = self._sealer.seal(
            plaintext.encode("ascii"),
            tenant_id=tenant_id,
            record_id=secret_id,
            purpose=NOTIFY_SECRET_PURPOSE,
        )
        return secret_id, plaintext, NotifySecret(id=secret_id, sealed=sealed, created_at=now)

    def _open(self, tenant_id: str, secret: NotifySecret) -> str:
        plaintext = self._sealer.open(
            secret.sealed, tenant_id=tenant_id, record_id=secret.id, purpose=NOTIFY_SECRET_PURPOSE
        )
        value = plaintext.decode("ascii")
        register_secret(value)
        return value

    def _update(
        self,
        tenant_id: str,
        change: Callable[[TenantSettings, datetime], None],
        *,
        audit: Callable[[], AuditEvent],
    ) -> TenantSettings:
        """Read, apply ``change(settings, now)`` to a copy, compare-and-set with the entry
        ``audit()`` makes of that change; again on a race."""

        def attempt(_again: bool) -> TenantSettings:
            now = self._clock.now()
            current = self._store.get_tenant_settings(tenant_id)
            changed = (
                TenantSettings(tenant_id=tenant_id, updated_at=now)
                if current is None
                else current.model_copy(deep=True)
            )
            change(changed, now)
            changed.updated_at = now
            return self._store.put_tenant_settings(
                changed,
                expected_version=None if current is None else current.version,
                audit=[audit()],
            )

        return compare_and_set(attempt, what="the tenant settings")

    def _entry(self, principal: Principal, action: str, **detail: Any) -> AuditEvent:
        return audit_entry(self._ids, self._clock, principal, None, action, **detail)

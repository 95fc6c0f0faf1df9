"""When an OAuth access token is refreshed: pure timing rules, no I/O.

A token is *due* for refresh at the earlier of two moments:

* ``expires_at - margin``. The margin is the provider's ``refresh_margin_seconds`` (Tether's
  ``oauth_refresh_margin_seconds`` when the catalog entry has none), capped at half the token's
  lifetime (``expires_at - issued_at``), so a 60-second token is refreshed after 30 seconds,
  not on every read.
* ``issued_at + keep_alive_days / 2`` for providers that revoke a refresh token left unused for
  ``keep_alive_days``: a long-lived access token must not let the refresh token behind it die.

``issued_at`` is the record's ``token_refreshed_at``; a record without one is taken to hold a
token of the provider's default lifetime.

A refresh task is scheduled at the due time. Cloud Tasks schedules at most 30 days ahead, so a
due time further out is reached in hops of :data:`MAX_SCHEDULE_AHEAD`; each hop has a name of
its own, derived from the token's due time (to the microsecond) and the hop number, so every
path that schedules the same token (the refresh that stored it, a sweep, an early task
re-scheduling) names the same tasks and the queue's name dedupe keeps one of each.

The name is unique per token generation: two token writes in the same second (a connect and
a forced refresh) have different due times, so the second token's task never collides with
the first one's (a name the queue keeps even after that task ran). Names once derived from
the expiry in whole seconds did collide, and the chain of proactive refreshes stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tether.catalog.schema import OAuth2Auth
from tether.catalog.token_grants import ClientCredentialsAuth, JwtBearerAuth, TwoStepAuth

IssuedTokenAuth = ClientCredentialsAuth | JwtBearerAuth | TwoStepAuth

if TYPE_CHECKING:
    from tether.catalog import Catalog
    from tether.domain.models import Connection

__all__ = [
    "MAX_SCHEDULE_AHEAD",
    "RefreshPolicy",
    "ScheduledRefresh",
    "catalog_refresh_policies",
    "effective_margin",
    "is_due",
    "newer_token",
    "refresh_due_at",
    "refresh_task_name",
    "schedule_refresh_at",
]

# Cloud Tasks refuses schedule times more than 30 days ahead; a day of slack for clock skew.
MAX_SCHEDULE_AHEAD = timedelta(days=29)


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """How one connection's tokens are kept fresh.

    ``margin_seconds``: refresh this long before expiry (before the half-lifetime cap).
    ``default_lifetime_seconds``: the lifetime assumed when the record does not say when its
    token was issued. ``keep_alive_days``: the provider revokes a refresh token unused this
    long (``None``: it does not).
    """

    margin_seconds: int = 300
    default_lifetime_seconds: int = 3600
    keep_alive_days: int | None = None

    def __post_init__(self) -> None:
        if self.margin_seconds < 0:
            raise ValueError("margin_seconds must be >= 0")
        if self.default_lifetime_seconds <= 0:
            raise ValueError("default_lifetime_seconds must be > 0")
        if self.keep_alive_days is not None and self.keep_alive_days <= 0:
            raise ValueError("keep_alive_days must be > 0")

    @classmethod
    def for_provider(
        cls, auth: OAuth2Auth | IssuedTokenAuth, *, default_margin_seconds: int
    ) -> RefreshPolicy:
        """The policy of a catalog entry; its margin, else Tether's default margin. A token
        issued from stored credentials has no refresh token to keep alive."""
        margin = auth.refresh_margin_seconds
        return cls(
            margin_seconds=default_margin_seconds if margin is None else margin,
            default_lifetime_seconds=auth.default_token_lifetime_seconds,
            keep_alive_days=auth.keep_alive_days if isinstance(auth, OAuth2Auth) else None,
        )


def catalog_refresh_policies(
    catalog: Callable[[], Catalog], *, default_margin_seconds: int
) -> Callable[[Connection], RefreshPolicy]:
    """``policy_for`` of :class:`~tether.oauth.refresh.TokenRefresh`: the
    connection's catalog entry (the custom ``oauth2`` provider included) plus the default
    margin from the settings (``oauth_refresh_margin_seconds``)."""
    fallback = RefreshPolicy(margin_seconds=default_margin_seconds)

    def policy_for(connection: Connection) -> RefreshPolicy:
        auth = catalog().get(connection.provider).auth
        if isinstance(auth, OAuth2Auth | ClientCredentialsAuth | JwtBearerAuth | TwoStepAuth):
            return RefreshPolicy.for_provider(auth, default_margin_seconds=default_margin_seconds)
        return fallback

    return policy_for


def _issued_at(policy: RefreshPolicy, issued_at: datetime | None, expires_at: datetime) -> datetime:
    if issued_at is not None:
        return issued_at
    return expires_at - timedelta(seconds=policy.default_lifetime_seconds)


def effective_margin(
    policy: RefreshPolicy, *, issued_at: datetime | None, expires_at: datetime
) -> timedelta:
    """The policy's margin, capped at half the token's lifetime (never negative)."""
    lifetime = expires_at - _issued_at(policy, issued_at, expires_at)
    half = max(lifetime / 2, timedelta(0))
    return min(timedelta(seconds=policy.margin_seconds), half)


def refresh_due_at(
    policy: RefreshPolicy, *, issued_at: datetime | None, expires_at: datetime
) -> datetime:
    """When the token should be refreshed: margin before expiry, or earlier for keep-alive."""
    due = expires_at - effective_margin(policy, issued_at=issued_at, expires_at=expires_at)
    if policy.keep_alive_days is not None:
        keep_alive = _issued_at(policy, issued_at, expires_at) + timedelta(
            days=policy.keep_alive_days / 2
        )
        due = min(due, keep_alive)
    return due


def is_due(
    policy: RefreshPolicy,
    *,
    issued_at: datetime | None,
    expires_at: datetime | None,
    now: datetime,
) -> bool:
    """Whether a token with this expiry should be refreshed at ``now`` (no expiry: yes)."""
    if expires_at is None:
        return True
    return now >= refresh_due_at(policy, issued_at=issued_at, expires_at=expires_at)


def newer_token(connection: Connection, baseline: str | None, *, now: datetime) -> bool:
    """Whether ``connection`` holds an unexpired access token other than ``baseline`` (the
    sealed token a caller had): someone refreshed it meanwhile."""
    if connection.sealed_access_token is None or connection.sealed_access_token == baseline:
        return False
    expires_at = connection.token_expires_at
    return expires_at is None or expires_at > now


@dataclass(frozen=True, slots=True)
class ScheduledRefresh:
    """Where to put the next refresh task: ``hop`` 0 is the refresh itself, a higher hop an
    early wake-up that only re-schedules (the due time is beyond the queue's horizon)."""

    run_at: datetime
    hop: int


def schedule_refresh_at(due_at: datetime, *, now: datetime) -> ScheduledRefresh:
    """``due_at`` (``now`` if already past), or the hop of the fixed grid ``due_at - k *
    MAX_SCHEDULE_AHEAD`` with the smallest ``k`` that the queue accepts."""
    if due_at <= now + MAX_SCHEDULE_AHEAD:
        return ScheduledRefresh(run_at=max(due_at, now), hop=0)
    hop = math.ceil((due_at - now - MAX_SCHEDULE_AHEAD) / MAX_SCHEDULE_AHEAD)
    return ScheduledRefresh(run_at=due_at - hop * MAX_SCHEDULE_AHEAD, hop=hop)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def refresh_task_name(connection_id: str, due_at: datetime, hop: int = 0) -> str:
    """``refresh-<id>-<due time in epoch microseconds>`` (``-hop<k>`` for an early
    wake-up); exact integer arithmetic, so every path derives the same name."""
    name = f"refresh-{connection_id}-{(due_at - _EPOCH) // _MICROSECOND}"
    return name if hop == 0 else f"{name}-hop{hop}"

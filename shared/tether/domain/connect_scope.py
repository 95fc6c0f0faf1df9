"""What a connect session's bearer may reach: one end user's connections of the providers the
session allows, and nothing of the tenant's beyond them.

A connect session is the tenant's product handing one of its end users a short-lived token
for the browser (``tether.connect``). The services check reach here, in one place, so a
connection of another end user is as invisible to a session as another tenant's connection
is to a tenant (a 404, never a 403 that would confirm the id exists).
"""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from tether.domain.errors import Forbidden, NotFound

__all__ = ["ConnectScope", "check_provider", "check_reach", "end_user_of"]


class ConnectScope(BaseModel):
    """The limits a connect session puts on its bearer. ``allowed_providers`` ``None``: every
    provider of the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    session_id: str
    end_user_id: str
    allowed_providers: tuple[str, ...] | None = None
    allowed_origins: tuple[str, ...] = Field(default=())

    def allows(self, provider: str) -> bool:
        return self.allowed_providers is None or provider in self.allowed_providers


class _HasScope(Protocol):
    """Who is calling (a :class:`~tether.domain.models.Principal`), as far as reach goes."""

    @property
    def session(self) -> ConnectScope | None: ...


def end_user_of(principal: _HasScope) -> str | None:
    """The end user a session principal acts for; ``None`` for the tenant itself."""
    return None if principal.session is None else principal.session.end_user_id


def check_reach(principal: _HasScope, end_user_id: str | None) -> None:
    """Refuse a session's bearer a connection of another end user (or of none) as unknown."""
    scope = principal.session
    if scope is not None and end_user_id != scope.end_user_id:
        raise NotFound("no such connection", code="CONNECTION_NOT_FOUND")


def check_provider(principal: _HasScope, provider: str) -> None:
    """Refuse a session's bearer a provider its session does not offer."""
    scope = principal.session
    if scope is not None and not scope.allows(provider):
        raise Forbidden(
            "this connect session does not offer this provider", code="PROVIDER_NOT_ALLOWED"
        )

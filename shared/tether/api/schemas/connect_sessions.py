"""Bodies of the ``connect_sessions`` function."""

from __future__ import annotations

from pydantic import Field

from tether.api.schemas.body import Body, UtcTime

__all__ = ["ConnectSessionCreated", "ConnectSessionView", "EndUserView"]


class EndUserView(Body):
    id: str
    display_name: str | None


class ConnectSessionView(Body):
    """A connect session as its bearer and its tenant see it (never the token)."""

    id: str = Field(pattern="^csess_")
    end_user: EndUserView
    allowed_providers: list[str] | None = Field(
        description="the providers the session offers; null: the whole catalog"
    )
    allowed_origins: list[str]
    expires_at: UtcTime


class ConnectSessionCreated(ConnectSessionView):
    """A new connect session: ``token`` is shown this once (hand it to the end user's
    browser); ``url`` is the hosted page with the token in its fragment."""

    token: str
    url: str

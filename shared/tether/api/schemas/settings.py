"""Bodies of the ``settings`` function: the tenant's notify URL and its signing secrets."""

from __future__ import annotations

from pydantic import Field

from tether.api.schemas.body import Body, UtcTime

__all__ = ["NotifySecretView", "NotifySettingsBody", "RotatedNotifySecret"]


class NotifySecretView(Body):
    """A signing secret's id and lifetime, never its value; ``current`` signs new events."""

    id: str
    current: bool
    created_at: UtcTime
    expires_at: UtcTime | None


class NotifySettingsBody(Body):
    """``version`` and ``updated_at`` are ``null`` before anything was stored."""

    notify_url: str | None
    secrets: list[NotifySecretView]
    version: int | None
    updated_at: UtcTime | None


class RotatedNotifySecret(NotifySettingsBody):
    secret: str = Field(description="the new whsec_ signing secret, shown this once")

"""The body ``oauth_start`` answers."""

from __future__ import annotations

from tether.api.schemas.body import Body, UtcTime

__all__ = ["OAuthStarted"]


class OAuthStarted(Body):
    authorization_url: str
    state: str
    expires_at: UtcTime

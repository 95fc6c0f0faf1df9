"""What a webhook URL answers a delivery."""

from __future__ import annotations

from pydantic import RootModel

from tether.api.schemas.body import Body

__all__ = ["WebhookAccepted", "WebhookAnswer", "WebhookChallenge"]


class WebhookAccepted(Body):
    ok: bool
    duplicate: bool


class WebhookChallenge(Body):
    """The answer to a provider's handshake (Slack's ``url_verification``): its challenge."""

    challenge: str


class WebhookAnswer(RootModel[WebhookAccepted | WebhookChallenge]):
    """What a webhook URL answers a delivery: accepted, or a handshake's challenge."""

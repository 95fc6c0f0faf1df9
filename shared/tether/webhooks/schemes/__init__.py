"""One module per signature scheme (or family of schemes); :mod:`tether.webhooks.signatures`
is the entry point and registry."""

from __future__ import annotations

from tether.webhooks.schemes.body_hmac import (
    GitHubScheme,
    HmacScheme,
    ShopifyScheme,
    SquareScheme,
    XeroScheme,
)
from tether.webhooks.schemes.hubspot import HubSpotV3Scheme
from tether.webhooks.schemes.sendgrid import SendGridScheme
from tether.webhooks.schemes.slack import SlackScheme
from tether.webhooks.schemes.standard_webhooks import StandardWebhooksScheme, SvixScheme
from tether.webhooks.schemes.stripe import StripeScheme
from tether.webhooks.schemes.twilio import TwilioScheme
from tether.webhooks.schemes.unsigned import UnsignedScheme

__all__ = [
    "GitHubScheme",
    "HmacScheme",
    "HubSpotV3Scheme",
    "SendGridScheme",
    "ShopifyScheme",
    "SlackScheme",
    "SquareScheme",
    "StandardWebhooksScheme",
    "StripeScheme",
    "SvixScheme",
    "TwilioScheme",
    "UnsignedScheme",
    "XeroScheme",
]

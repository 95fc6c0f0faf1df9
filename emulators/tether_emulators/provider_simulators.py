"""The provider simulators ``tether dev --simulators`` runs: Google Calendar, Gmail, Google
Drive, HubSpot, Xero and Shopify (each an authorization server and an API on loopback) and
Stripe (an API taking one API key), so a developer can connect them and run their actions
offline.

Two servers: the local OAuth provider (:class:`~tether_emulators.oauth_provider.OAuthProvider`,
one confidential client registered for Tether's callback, consent automatic: its
``/authorize`` redirects at once, so ``curl -L`` plays the browser), standing in for the OAuth
providers' authorization servers, and the API simulators
(:class:`~tether_emulators.provider_apis.ProviderApis`), which check every request against the
providers' trimmed published descriptions (:mod:`tether_emulators.provider_descriptions`) and
take the access tokens that provider issued, or Stripe's key (:data:`STRIPE_KEY`). Xero's API
knows one organisation (:data:`XERO_TENANT`), which its identity API lists at ``GET
/connections`` (so a connection made without a ``tenant_id`` learns it, as with a real Xero
grant to one organisation); Shopify's answers for any shop. Everything lives in memory: after
a restart the tokens Tether holds are unknown (reconnect).
"""

from __future__ import annotations

from tether_emulators.oauth_provider import ClientSpec, OAuthProvider
from tether_emulators.provider_apis import ProviderApis
from tether_emulators.provider_descriptions import load_descriptions

__all__ = ["SIMULATED_PROVIDERS", "STRIPE_KEY", "XERO_TENANT", "ProviderSimulators"]

#: The catalog keys whose API (and authorization server, for OAuth entries) the simulators
#: stand in for.
SIMULATED_PROVIDERS = (
    "google_calendar",
    "gmail",
    "google_drive",
    "hubspot",
    "stripe",
    "xero",
    "shopify",
)
#: Descriptions of APIs beside the catalog entries' own: Xero's identity API (its organisations).
_EXTRA_DESCRIPTIONS = ("xero_identity",)
#: The one API key the simulated Stripe takes (a test-mode key's shape).
STRIPE_KEY = "sk_test_tethersimulator"
#: The one organisation the simulated Xero knows.
XERO_TENANT = "0b6ad5a2-3e41-4c6b-9a43-0b5e0c3d2f11"


class ProviderSimulators:
    """The OAuth provider and the API simulators, started together on ``host``."""

    providers: tuple[str, ...] = SIMULATED_PROVIDERS

    def __init__(self, *, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.oauth = OAuthProvider(
            clients={client_id: ClientSpec(client_id, client_secret, redirect_uris=[redirect_uri])}
        )
        documents = load_descriptions()
        self.apis = ProviderApis(
            [documents[key] for key in (*SIMULATED_PROVIDERS, *_EXTRA_DESCRIPTIONS)],
            accepts=lambda token: token == STRIPE_KEY or self.oauth.is_active(token),
        )
        self.apis.state.xero_tenants.add(XERO_TENANT)

    def start(self, *, host: str = "127.0.0.1", oauth_port: int = 0, api_port: int = 0) -> None:
        self.oauth.start(host=host, port=oauth_port)
        try:
            self.apis.start(host=host, port=api_port)
        except BaseException:
            self.oauth.stop()
            raise

    def stop(self) -> None:
        self.apis.stop()
        self.oauth.stop()

    @property
    def api_url(self) -> str:
        """Where the APIs answer, each under its real base path (``/calendar/v3``…)."""
        return self.apis.url

    @property
    def authorization_url(self) -> str:
        return self.oauth.authorization_url

    @property
    def token_url(self) -> str:
        return self.oauth.token_url

    @property
    def revocation_url(self) -> str:
        return self.oauth.revocation_url

    @property
    def connect_values(self) -> dict[str, dict[str, str]]:
        """What connecting some of them takes: Stripe's API key (credentials), Xero's
        organisation (config ``tenant_id``)."""
        return {"stripe": {"api_key": STRIPE_KEY}, "xero": {"tenant_id": XERO_TENANT}}

    @property
    def issuer(self) -> str:
        """The ``iss`` of its authorization responses (RFC 9207)."""
        return self.oauth.issuer

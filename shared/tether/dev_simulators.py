"""``tether dev --simulators``: Google Calendar, Gmail, Google Drive, HubSpot, Xero, Shopify
and Stripe answered by the provider simulators on loopback, so their OAuth flow (Stripe: its
API key) and actions work offline.

The simulators (an authorization server with automatic consent, and the APIs, which check
every request against the providers' published descriptions) come from the stand-ins'
distribution (:func:`tether.stand_ins.start_provider_simulators`). This module points the
server about to start at them, through its settings: each simulated entry's API base URL
(``TETHER_CATALOG_API_BASE_URLS``: the simulators' address plus the entry's own base path)
and, for OAuth entries, authorization server (``TETHER_CATALOG_AUTHORIZATION_SERVERS``) and
the OAuth client the simulators registered for this server's callback
(``TETHER_OAUTH_CLIENT_<KEY>_ID`` and ``_SECRET``, replacing any real one: the simulators know
no other), and the egress allowlist (both servers are on loopback, which the SSRF guard
refuses otherwise). A post-connect lookup given as a path (HubSpot's token metadata, Xero's
organisations) follows the API base URL to the simulators. Values a developer set
in those JSON settings for other providers are kept.
"""

from __future__ import annotations

import json
import os
import secrets
from urllib.parse import urlsplit

from tether.stand_ins import ProviderSimulators, start_provider_simulators

__all__ = ["CLIENT_ID", "start_simulators"]

CLIENT_ID = "tether-dev-simulators"


def _merged(variable: str, values: dict[str, object]) -> str:
    current = os.environ.get(variable)
    merged: dict[str, object] = json.loads(current) if current else {}
    merged.update(values)
    return json.dumps(merged)


def start_simulators(*, base_url: str) -> ProviderSimulators:
    """Start the simulators on loopback and point this process's settings at them (before the
    container reads them); ``base_url``: where this server answers."""
    from tether.catalog import OAuth2Auth, load_catalog

    client_secret = secrets.token_urlsafe(32)
    simulators = start_provider_simulators(
        host="127.0.0.1",
        client_id=CLIENT_ID,
        client_secret=client_secret,
        redirect_uri=f"{base_url}/oauth_callback/",
    )
    catalog = load_catalog()
    api_urls: dict[str, object] = {}
    servers: dict[str, object] = {}
    for key in simulators.providers:
        provider = catalog.get(key)
        base_path = urlsplit(provider.api_base_url or "").path.rstrip("/")
        api_urls[key] = simulators.api_url + base_path
        if not isinstance(provider.auth, OAuth2Auth):
            continue
        servers[key] = {
            "authorization_url": simulators.authorization_url,
            "token_url": simulators.token_url,
            "revocation_url": simulators.revocation_url,
            "issuer": simulators.issuer,
        }
        os.environ[f"TETHER_OAUTH_CLIENT_{key.upper()}_ID"] = CLIENT_ID
        os.environ[f"TETHER_OAUTH_CLIENT_{key.upper()}_SECRET"] = client_secret
    os.environ["TETHER_CATALOG_API_BASE_URLS"] = _merged("TETHER_CATALOG_API_BASE_URLS", api_urls)
    os.environ["TETHER_CATALOG_AUTHORIZATION_SERVERS"] = _merged(
        "TETHER_CATALOG_AUTHORIZATION_SERVERS", servers
    )
    addresses = {urlsplit(url).netloc for url in (simulators.api_url, simulators.token_url)}
    allowlist = [a for a in os.environ.get("TETHER_EGRESS_ALLOWLIST", "").split(",") if a]
    os.environ["TETHER_EGRESS_ALLOWLIST"] = ",".join([*allowlist, *sorted(addresses)])
    return simulators

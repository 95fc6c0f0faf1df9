"""What the ``tether`` command may run from this package, registered as entry points of the
group ``tether.local`` (see ``pyproject.toml`` beside this package): the command looks them up
by name and never imports ``tether_emulators`` itself, so Tether runs and deploys without it.

- ``gcp_emulators``: :func:`start_gcp_emulators`, for ``tether emulators start`` and
  ``tether dev --gcp``;
- ``demo_oauth_provider``: :func:`start_demo_oauth_provider`, the OAuth server behind the
  catalog's ``demo`` entry that ``tether dev`` runs for the offline demo;
- ``provider_simulators``: :func:`start_provider_simulators`, Google Calendar, Gmail, Google
  Drive, HubSpot, Xero, Shopify (their authorization server and APIs) and Stripe (its API) for
  ``tether dev --simulators``.

Each raises :class:`RuntimeError` or :class:`OSError` when what they start cannot start.
"""

from __future__ import annotations

from typing import Any

from tether_emulators.launcher import RunningEmulators, start_emulators
from tether_emulators.oauth_provider import ClientSpec, OAuthProvider
from tether_emulators.provider_simulators import ProviderSimulators

__all__ = ["start_demo_oauth_provider", "start_gcp_emulators", "start_provider_simulators"]


def start_gcp_emulators(**options: Any) -> RunningEmulators:
    """The Firestore, Secret Manager and Cloud Tasks emulators (see
    :func:`~tether_emulators.launcher.start_emulators` for the options)."""
    return start_emulators(**options)


def start_demo_oauth_provider(
    *, host: str, port: int, client_id: str, client_secret: str, redirect_uri: str
) -> OAuthProvider:
    """A local OAuth provider with one confidential client, listening on ``host:port``
    (``0``: any free port; :attr:`OAuthProvider.port` tells which)."""
    provider = OAuthProvider(
        clients={client_id: ClientSpec(client_id, client_secret, redirect_uris=[redirect_uri])}
    )
    provider.start(host=host, port=port)
    return provider


def start_provider_simulators(
    *, host: str, client_id: str, client_secret: str, redirect_uri: str
) -> ProviderSimulators:
    """The provider simulators on free ports of ``host``, with one confidential client
    registered for ``redirect_uri``."""
    simulators = ProviderSimulators(
        client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
    )
    simulators.start(host=host)
    return simulators

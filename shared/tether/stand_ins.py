"""The optional boundary between the ``tether`` command and the local stand-ins it can run:
the GCP emulators (``tether emulators start``, ``tether dev --gcp``) and the OAuth provider
behind the catalog's ``demo`` entry (the offline demo of ``tether dev``), and the provider
simulators of ``tether dev --simulators`` (Google Calendar, Gmail, Google Drive, HubSpot,
Xero, Shopify, Stripe).

They live in a distribution of their own, ``tether-emulators`` (``emulators/`` in the source
tree; ``make install`` installs it), which registers them as entry points of the group
``tether.local``. Tether looks them up by name and never imports that package: an
import-linter contract forbids it, so a deployment carries none of the test stand-ins, and a
command that needs one says how to get it instead of failing on an import.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol, cast

__all__ = [
    "GROUP",
    "DemoProvider",
    "ProviderSimulators",
    "RunningEmulators",
    "StandInMissing",
    "start_demo_oauth_provider",
    "start_gcp_emulators",
    "start_provider_simulators",
]

GROUP = "tether.local"
DISTRIBUTION = "tether-emulators"


class RunningEmulators(Protocol):
    """Started emulators: ``environment`` names them (``*_EMULATOR_HOST`` and
    ``CLOUD_TASKS_EMULATOR_JWKS_URL``)."""

    @property
    def environment(self) -> Mapping[str, str]: ...

    def export_lines(self) -> list[str]: ...

    def stop(self) -> None: ...


class DemoProvider(Protocol):
    """A running local OAuth provider: the port it listens on, the issuer it names (RFC 9207)."""

    @property
    def port(self) -> int: ...

    issuer: str

    def stop(self) -> None: ...


class StandInMissing(SystemExit):
    """A command needs a stand-in whose distribution is not installed."""


def _load(name: str, needed_by: str) -> Any:
    found = entry_points(group=GROUP, name=name)
    if not found:
        raise StandInMissing(
            f"tether: {needed_by} needs the {DISTRIBUTION} package, which is not installed "
            f"(no {name!r} in the entry points {GROUP!r}); from a source checkout, "
            "`make install` installs it (or `pip install -e ./emulators`)"
        )
    return next(iter(found)).load()


def start_gcp_emulators(*, needed_by: str, **options: Any) -> RunningEmulators:
    """Start the Firestore, Secret Manager and Cloud Tasks emulators (those not named in
    ``already_running``); :class:`RuntimeError` or :class:`OSError` when one cannot start."""
    return cast("RunningEmulators", _load("gcp_emulators", needed_by)(**options))


def start_demo_oauth_provider(
    *, host: str, port: int, client_id: str, client_secret: str, redirect_uri: str
) -> DemoProvider:
    """Start the demo OAuth provider with one client registered for ``redirect_uri``."""
    start = _load("demo_oauth_provider", "the demo OAuth provider of `tether dev`")
    return cast(
        "DemoProvider",
        start(
            host=host,
            port=port,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
        ),
    )


class ProviderSimulators(Protocol):
    """Running provider simulators: the catalog keys they stand in for, where their APIs
    answer (each under its real base path) and their authorization server's endpoints."""

    @property
    def providers(self) -> tuple[str, ...]: ...

    @property
    def api_url(self) -> str: ...

    @property
    def authorization_url(self) -> str: ...

    @property
    def token_url(self) -> str: ...

    @property
    def revocation_url(self) -> str: ...

    @property
    def issuer(self) -> str: ...

    @property
    def connect_values(self) -> Mapping[str, Mapping[str, str]]:
        """Values some of them need to connect (Stripe's ``api_key``, Xero's ``tenant_id``)."""
        ...

    def stop(self) -> None: ...


def start_provider_simulators(
    *, host: str, client_id: str, client_secret: str, redirect_uri: str
) -> ProviderSimulators:
    """Start the provider simulators (free ports) with one OAuth client registered for
    ``redirect_uri``."""
    start = _load("provider_simulators", "tether dev --simulators")
    return cast(
        "ProviderSimulators",
        start(
            host=host, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
        ),
    )

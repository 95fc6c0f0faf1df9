"""Issued-token benchmark: what a call costs when its token is issued again, next to one
that uses the stored token, for each mode whose token Tether issues from the connection's
credentials (client credentials, JWT bearer, a two-step token call), against the independent
OpenID provider the tests use (node-oidc-provider on loopback), through the `fetch` function
(embedded stack: SQLite store, "db" secrets). Each round moves the clock past the token's
refresh point, then fetches twice: the first call issues a token (lease, token request,
record write, audit), the second uses it. Also: the provider's start time.

Run: ``make bench-issued_tokens`` or ``python tests/bench/bench_issued_tokens.py
[--rounds N] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests' helpers

from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING
from tests.functions.test_issued_tokens import (
    CC_SECRET,
    CLIENTS,
    PUBLIC_PEM,
    SA_EMAIL,
    TWO_STEP_ENTRY,
    Tether,
    _client_credentials,
    _jwt_bearer,
)
from tests.support.oidc_server import oidc_server

from tether.bootstrap import Container, reset_container
from tether.catalog import Catalog, load_catalog, parse_catalog
from tether.config import Settings
from tether.domain.clock import FixedClock


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    with oidc_server(clients=CLIENTS, jwt_bearer={SA_EMAIL: PUBLIC_PEM}) as server:
        figures["provider_start_s"] = round(time.perf_counter() - started, 2)
        settings = Settings(
            mode="dev",
            auth="dev",
            data_dir=Path(tempfile.mkdtemp()) / "data",
            keyring=TEST_KEYRING,  # type: ignore[arg-type]
            dev_jwt_secret=TEST_JWT_SECRET,  # type: ignore[arg-type]
            task_worker=False,
            egress_allowlist=f"127.0.0.1:{server.port}",
            rate_limit_per_minute=100_000,
            rate_limit_burst=1_000,
        )
        extra = parse_catalog(TWO_STEP_ENTRY, source="bench")
        clock = FixedClock(datetime.now(UTC))
        container = Container(settings, clock=clock, catalog=Catalog([*load_catalog(), *extra]))
        reset_container(container)
        tether = Tether(container, clock)
        bodies = {
            "client_credentials": _client_credentials(server, "cc-basic"),
            "jwt_bearer": _jwt_bearer(server),
            "two_step": {
                "provider": "keyed_api",
                "config": {"base_url": server.issuer},
                "credentials": {"key_id": "cc-post", "key_secret": CC_SECRET},
            },
        }
        for mode, body in bodies.items():
            connection_id = tether.create(body)
            issued: list[float] = []
            stored: list[float] = []
            for _ in range(args.rounds):
                clock.advance(700)  # past the refresh point of a 600 s token
                for times in (issued, stored):
                    begun = time.perf_counter()
                    tether.fetched(connection_id)
                    times.append((time.perf_counter() - begun) * 1000)
            figures[mode] = {"issued_again": _ms(issued), "stored_token": _ms(stored)}
        reset_container(None)
        container.close()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"provider start: {figures['provider_start_s']} s")
        for mode in bodies:
            row = figures[mode]
            print(
                f"{mode:20} fetch issuing a token: median {row['issued_again']['median_ms']} ms"
                f" (p90 {row['issued_again']['p90_ms']}); with the stored token: median "
                f"{row['stored_token']['median_ms']} ms (p90 {row['stored_token']['p90_ms']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

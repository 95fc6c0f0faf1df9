"""Fetch benchmark: N pages through Tether's fetch next to the same N pages by a plain httpx loop.

Both read the local sample API on loopback (`tether_emulators.sample_api`, page pagination, 10
records a page, bearer auth) in one run, alternating, median of R runs each:

- plain: an ``httpx.Client`` loop over ``?page=1..N`` parsing each JSON body;
- tether: ``FetchService`` over the outbound client as the fetch function uses it (SSRF guard
  with the loopback allowlist, auth, retries armed, the per-connection rate limiter set high
  enough never to wait, redaction, pagination and loop detection).

Prints seconds and the ratio for N = 10, 100, 1000 (target: ratio <= 1.2, time linear in N).
Run: ``make bench-fetch`` or ``python tests/bench/bench_fetch.py [--runs R] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from typing import Any

import httpx

from tether.fetch.service import FetchRequest, FetchService
from tether.http.auth import BearerAuth
from tether.http.client import OutboundClient
from tether.http.guard import EgressGuard
from tether.http.model import RateSpec
from tether.http.rate_limit import LocalRateLimiter
from tether_emulators.sample_api import AuthRequirement, SampleApi

TOKEN = "bench-token-0123456789abcdef"
PAGE = 10
SIZES = (10, 100, 1000)


def plain(api: SampleApi, pages: int) -> int:
    records = 0
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for page in range(1, pages + 1):
            body = client.get(
                f"{api.url}/page/items", params={"page": page, "per_page": PAGE}
            ).json()
            records += len(body["items"])
    return records


def tether(api: SampleApi, pages: int) -> int:
    guard = EgressGuard([f"127.0.0.1:{api.port}"])
    rate = RateSpec(per_minute=10_000_000, burst=100_000)
    auth = BearerAuth(TOKEN)
    with OutboundClient(guard, rate_limiter=LocalRateLimiter()) as client:

        def send(method: str, url: str, **kw: Any) -> Any:
            return client.request(
                method,
                url,
                params=kw.get("params"),
                json=kw.get("json"),
                headers=kw.get("headers"),
                auth=auth,
                rate_key="bench",
                rate=rate,
            )

        service = FetchService(send, api.url)
        result = service.fetch(
            FetchRequest(
                path="/page/items",
                records_path="items",
                pagination={
                    "type": "page",
                    "page_param": "page",
                    "limit_param": "per_page",
                    "limit": PAGE,
                },
                max_pages=pages,
                max_records=100_000,
            )
        )
    return len(result.records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger("tether").setLevel(logging.WARNING)
    rows = []
    auth = AuthRequirement(mode="bearer", secret=TOKEN)
    with SampleApi(items=max(SIZES) * PAGE, auth=auth) as api:
        plain(api, 5)  # warm up both paths
        tether(api, 5)
        for pages in SIZES:
            times: dict[str, list[float]] = {"plain": [], "tether": []}
            for _ in range(args.runs):
                for name, run in (("plain", plain), ("tether", tether)):
                    started = time.perf_counter()
                    count = run(api, pages)
                    times[name].append(time.perf_counter() - started)
                    assert count == pages * PAGE, (name, count)
            plain_s = statistics.median(times["plain"])
            tether_s = statistics.median(times["tether"])
            rows.append(
                {
                    "pages": pages,
                    "plain_s": plain_s,
                    "tether_s": tether_s,
                    "ratio": tether_s / plain_s,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"Fetching N pages of {PAGE} records from a loopback API, median of {args.runs} runs")
    print(f"{'pages':>6} {'plain httpx s':>14} {'tether fetch s':>15} {'ratio':>7} {'ms/page':>8}")
    for row in rows:
        print(
            f"{row['pages']:>6} {row['plain_s']:>14.3f} {row['tether_s']:>15.3f} "
            f"{row['ratio']:>6.2f}x {row['tether_s'] / row['pages'] * 1000:>8.2f}"
        )
    first, last = rows[0], rows[-1]
    print(
        f"{last['pages'] // first['pages']}x the pages: tether time "
        f"x{last['tether_s'] / first['tether_s']:.1f}, "
        f"plain time x{last['plain_s'] / first['plain_s']:.1f} "
        f"(target: ratio <= 1.2x, linear)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Connect page benchmark: what the hosted page costs a browser, in headless Chromium (Debian's
``chromium``) against ``tether dev``.

Prints the bytes transferred (as they came over the wire, gzipped) for the page's HTML, its
script and stylesheet, and the embed script, next to the budgets (60 KB of script and style
for the page, 5 KB for the embed script), and the time to interactive: from the start of the
navigation until the catalog and the end user's connections are on screen and take input
(median of R cold loads, each in a fresh browser context, so nothing is cached).

Run: ``make bench-connect`` or ``python tests/bench/bench_connect.py [--rounds R] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.e2e.test_dev_server import DevServer
from tests.support.chromium import CHROMIUM, FLAGS

PAGE_BUDGET = 60 * 1024
EMBED_BUDGET = 5 * 1024


def _load(browser: Any, url: str) -> tuple[dict[str, int], float]:
    """One cold load: transferred bytes per resource name, and time to interactive (ms)."""
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    cdp.on(
        "Network.requestWillBeSent",
        lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]),
    )

    def finished(event: dict[str, Any]) -> None:
        url = urls.get(event["requestId"], "")
        name = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "page"
        sizes[name] = sizes.get(name, 0) + int(event["encodedDataLength"])

    cdp.on("Network.loadingFinished", finished)
    page.goto(url)
    page.wait_for_selector("#view-catalog:not([hidden])")
    interactive = page.evaluate(
        "performance.now() - performance.getEntriesByType('navigation')[0].startTime"
    )
    context.close()
    return sizes, float(interactive)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as data:
        dev = DevServer(Path(data) / "data")
        dev.start()
        try:
            tenant = {"Authorization": f"Bearer {dev.cli('token', '--tenant', 'bench')}"}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                # the body's bytes as sent (httpx counts them before decoding the gzip)
                embed = httpx.get(
                    f"{dev.url}/connect/embed.js", headers={"Accept-Encoding": "gzip"}
                )
                embed_bytes = int(embed.num_bytes_downloaded)
                loads = []
                for _ in range(args.rounds):
                    session = httpx.post(
                        f"{dev.url}/connect_sessions/",
                        json={"end_user": {"id": "bench-user"}},
                        headers=tenant,
                    ).json()
                    loads.append(_load(browser, session["url"]))
                browser.close()
        finally:
            dev.stop()
    sizes = loads[-1][0]
    page_assets = sizes.get("connect.js", 0) + sizes.get("connect.css", 0)
    figures = {
        "html_bytes": sizes.get("connect", 0),
        "script_bytes": sizes.get("connect.js", 0),
        "style_bytes": sizes.get("connect.css", 0),
        "page_script_and_style_bytes": page_assets,
        "page_budget_bytes": PAGE_BUDGET,
        "embed_bytes": embed_bytes,
        "embed_budget_bytes": EMBED_BUDGET,
        "time_to_interactive_ms": round(statistics.median(t for _, t in loads), 1),
        "rounds": args.rounds,
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"page HTML                {figures['html_bytes']:>7} B transferred")
    print(
        f"page script + style      {page_assets:>7} B transferred (gzip)"
        f"   budget {PAGE_BUDGET} B  {'ok' if page_assets <= PAGE_BUDGET else 'OVER'}"
    )
    print(
        f"embed script             {embed_bytes:>7} B transferred (gzip)"
        f"   budget {EMBED_BUDGET} B  {'ok' if embed_bytes <= EMBED_BUDGET else 'OVER'}"
    )
    print(
        f"time to interactive      {figures['time_to_interactive_ms']:>7} ms"
        f" (median of {args.rounds} cold loads)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the edge's JSON limits cost: :func:`tether.domain.bounded_json.loads_bounded` (decode,
refuse NaN/Infinity, walk every value for depth, members, string length and lone surrogates)
next to plain :func:`json.loads`, on the same bodies, measured side by side in one run:

1. a typical create body (~200 bytes: provider, display name, credentials, a little metadata);
2. a fetch-sized body of 32 KiB (a list of small objects);
3. a ~0.5 MiB body of 1,000 objects of 50 fields (many small values: the walk's worst case);
4. a ~1 MiB body (the API's size cap) of a few long strings (the text scans' case).

Each figure is the median of ``--runs`` timings of ``--repeat`` decodes. Also the redaction of
fetch output (:meth:`tether.http.redact.Redactor.scrub`) over 1,000 records of 20 fields.

Run: ``make bench-json`` or ``python tests/bench/bench_json.py [--runs N] [--json]``.
A measurement, not a test: exit code 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from tether.domain.bounded_json import loads_bounded
from tether.http.redact import Redactor


def _bodies() -> dict[str, bytes]:
    typical = {
        "provider": "stripe",
        "display_name": "Main Stripe",
        "credentials": {"api_key": "sk_test_" + "a" * 40},
        "metadata": {"team": "finance", "region": "eu", "tags": ["a", "b", "c"]},
    }
    fetch = {"method": "POST", "path": "/v1/search", "body": {"items": []}}
    while len(json.dumps(fetch)) < 32 * 1024:
        fetch["body"]["items"].append({"id": len(fetch["body"]["items"]), "name": "x" * 20})
    wide = {"metadata": {"rows": [{f"f{j}": j for j in range(50)} for _ in range(1000)]}}
    while len(json.dumps(wide)) > 1024 * 1024:
        wide["metadata"]["rows"].pop()
    strings = {"metadata": {f"s{i}": "y" * 90_000 for i in range(11)}}
    return {
        "typical create": json.dumps(typical).encode(),
        "fetch body": json.dumps(fetch).encode(),
        "50,000 small values": json.dumps(wide).encode(),
        "11 long strings": json.dumps(strings).encode(),
    }


def _median_us(fn: Callable[[], Any], *, repeat: int, runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(repeat):
            fn()
        timings.append((time.perf_counter() - started) / repeat)
    return statistics.median(timings) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures: list[dict[str, Any]] = []
    for name, raw in _bodies().items():
        repeat = max(1, 200_000 // len(raw))
        plain = _median_us(lambda raw=raw: json.loads(raw), repeat=repeat, runs=args.runs)
        bounded = _median_us(lambda raw=raw: loads_bounded(raw), repeat=repeat, runs=args.runs)
        figures.append(
            {"body": name, "bytes": len(raw), "json.loads_us": plain, "loads_bounded_us": bounded}
        )
    records = [{f"field{j}": f"value {j} of a record" for j in range(20)} for _ in range(1000)]
    redactor = Redactor(["sk_test_" + "a" * 40])
    scrub = _median_us(lambda: redactor.scrub(records), repeat=3, runs=args.runs)
    if args.json:
        print(json.dumps({"decode": figures, "scrub_1000_records_us": scrub}))
        return 0
    print(f"{'body':26} {'bytes':>9} {'json.loads':>12} {'loads_bounded':>14} {'ratio':>6}")
    for f in figures:
        ratio = f["loads_bounded_us"] / f["json.loads_us"]
        print(
            f"{f['body']:26} {f['bytes']:>9} {f['json.loads_us']:>10.1f}us "
            f"{f['loads_bounded_us']:>12.1f}us {ratio:>5.2f}x"
        )
    print(f"fetch output redaction, 1,000 records of 20 fields: {scrub / 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

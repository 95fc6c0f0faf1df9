"""Keyring reload benchmark: what picking up a changed keyring costs a running instance.

Side by side, in one run, on one thread:

1. seal+open per second of a ~200-byte credential JSON with a ``Sealer`` over a fixed keyring
   (``TETHER_KEYRING``) and over the keyring file (``FileKeyringSource``, the default one-second
   re-check), so the price of the re-check on the hot path shows;
2. the same with a zero interval (a ``stat`` on every seal and open): the cost the interval
   saves;
3. ``current()`` of each source alone, and ``reload()`` of the file source (one ``stat``,
   file unchanged) and of a changed file (``stat``, read, JSON and base64 parse);
4. the first ``open`` of an envelope under a key the instance has not loaded yet (reload,
   new tenant-key derivation), against an ``open`` under a known key.

Run: ``make bench-keyring`` or ``python tests/bench/bench_keyring.py [--seconds S]``. A
measurement, not a test: exit code 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tether.crypto import (
    FileKeyringSource,
    Keyring,
    Sealer,
    StaticKeyringSource,
    new_key_entry,
    save_keyring_file,
)

CREDENTIALS = {
    "api_key": "sk_live_51Hx" + "a1B2c3D4e5F6g7H8" * 6,
    "webhook_secret": "whsec_" + "Zy9Xw8Vu7Ts6" * 4,
    "account_id": "acct_1Hx2Yz3Ab4Cd5Ef6",
}
BIND = {"tenant_id": "acme", "record_id": "conn_1", "purpose": "credentials"}


def rates(works: dict[str, Callable[[], object]], seconds: float) -> dict[str, float]:
    """Calls per second of each work: seven rounds, each work measured in turn for
    ``seconds / 7`` per round (so machine noise hits them alike); the median round."""
    slices: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(7):
        for name, work in works.items():
            n = 0
            start = time.perf_counter()
            end = start + seconds / 7
            while time.perf_counter() < end:
                for _ in range(100):
                    work()
                n += 100
            slices[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in slices.items()}


def micros(work: Callable[[], object], repeat: int = 200) -> float:
    """Median microseconds of one call."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def seal_open(sealer: Sealer) -> Callable[[], object]:
    def once() -> object:
        envelope = sealer.seal_json(CREDENTIALS, **BIND)
        return sealer.open_json(envelope, **BIND)

    return once


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measured figure")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "keyring.json"
        ring = Keyring.generate("k1")
        save_keyring_file(path, ring)
        static = StaticKeyringSource(ring)
        every_second = FileKeyringSource(path)
        every_call = FileKeyringSource(path, interval=0)

        figures: dict[str, float] = rates(
            {
                "seal+open/s fixed keyring": seal_open(Sealer(static)),
                "seal+open/s keyring file, 1 s re-check": seal_open(Sealer(every_second)),
                "seal+open/s keyring file, stat every call": seal_open(Sealer(every_call)),
            },
            args.seconds * 3,
        )
        figures |= {
            "current() us, fixed": micros(static.current, 2000),
            "current() us, file 1 s": micros(every_second.current, 2000),
            "reload() us, file unchanged": micros(every_second.reload, 2000),
        }

        # A changed file: every call re-reads it (a new inode each time).
        changed: list[float] = []
        for n in range(200):
            save_keyring_file(path, ring.with_key(*new_key_entry(f"kc{n}")))
            start = time.perf_counter()
            every_call.reload()
            changed.append((time.perf_counter() - start) * 1e6)
        figures["reload() us, file changed"] = statistics.median(changed)

        # An envelope under a key this instance has not loaded yet, against a known key.
        known_sealer = Sealer(FileKeyringSource(path, interval=3600))
        known = known_sealer.seal(b"x", **BIND)
        figures["open us, known key"] = micros(lambda: known_sealer.open(known, **BIND), 2000)
        first_opens = []
        for n in range(100):
            running = Sealer(FileKeyringSource(path, interval=3600))
            added = running.keyring.with_key(*new_key_entry(f"kn{n}"))
            save_keyring_file(path, added)
            envelope = Sealer(added).seal(b"x", **BIND)
            start = time.perf_counter()
            running.open(envelope, **BIND)
            first_opens.append((time.perf_counter() - start) * 1e6)
        figures["open us, unknown key (reload + derive)"] = statistics.median(first_opens)

    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:>12,.1f}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

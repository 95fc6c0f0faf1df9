"""Webhook acceptance benchmark: Tether's `webhooks` function next to a bare function.

Both run under the same ``functions-framework`` CLI and server, side by side in one run:

- bare: ``bare_function.py``, answering 200 to anything;
- tether: the ``webhooks`` function on the embedded stack (SQLite store, task worker off, so
  only acceptance is measured): Stripe signature verified (HMAC-SHA256, 300 s tolerance), the
  connection found by its token hash, the event stored with an atomic dedupe create, its
  ``process_webhook`` task handed to the queue (written in the queue's next batch, a few
  milliseconds after the answer), 200 answered. After the run the script reads the server's
  files and prints how many events were accepted, stored, and given their task.

C client threads each POST distinct, genuinely signed Stripe events (signed before the clock
starts), for S seconds, R rounds (the order of the two alternating from round to round); each
figure is the median round. Prints accepted webhooks
per second, the ratio to the bare function (target >= 0.6x), and p50/p99 acceptance latency
under that load.

Run: ``make bench-webhooks`` or ``python tests/bench/bench_webhooks.py [--seconds S]
[--concurrency C] [--rounds R] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import stripe
from process_figures import cpu_seconds

from tether.bootstrap import Container
from tether.config import Settings
from tether.connections.commands import CreateConnection
from tether.crypto import Keyring
from tether.domain.models import Principal, WebhookInfo

HERE = Path(__file__).resolve().parent
FRAMEWORK = Path(sys.executable).with_name("functions-framework")
SOURCE = HERE.parents[1] / "functions" / "main.py"
KEYRING = Keyring.generate().to_json()
WHSEC = "whsec_bench0webhook0secret0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env(data: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    out.update(
        TETHER_MODE="dev",
        TETHER_AUTH="dev",
        TETHER_DEV_JWT_SECRET="b" * 48,
        TETHER_KEYRING=KEYRING,
        TETHER_DATA_DIR=data,
        TETHER_TASK_WORKER="false",
        TETHER_ACCESS_LOG="false",
        TETHER_PUBLIC_URL="http://127.0.0.1:8080",
    )
    return out


def stripe_connection(data: str) -> str:
    """A Stripe connection with its webhook secret, made in-process on the same store; returns
    the webhook path ``/<token>``."""
    settings = Settings(
        mode="dev",
        auth="dev",
        data_dir=Path(data),
        keyring=KEYRING,  # type: ignore[arg-type]
        dev_jwt_secret="b" * 48,  # type: ignore[arg-type]
        task_worker=False,
        public_url="http://127.0.0.1:8080",
    )
    container = Container(settings)
    try:
        token, token_hash, _ = container.webhook_provisioning.issue_token()
        container.connections.create(
            Principal(tenant_id="bench", user_id="bench"),
            CreateConnection(
                provider="stripe",
                credentials={"api_key": "sk_test_bench0000", "webhook_secret": WHSEC},
            ),
            webhook=WebhookInfo(url="masked", token_hash=token_hash),
        )
    finally:
        container.close()
    return f"/{token}"


def start(target: str, source: Path, data: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(FRAMEWORK), "--target", target, "--source", str(source), "--host", "127.0.0.1",
         "--port", str(port)],
        env=env(data), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def signed_events(count: int, prefix: str) -> list[tuple[bytes, dict[str, str]]]:
    now = int(time.time())
    events = []
    for i in range(count):
        body = json.dumps(
            {"id": f"evt_{prefix}_{i}", "type": "charge.succeeded", "data": {"object": {"n": i}}}
        ).encode()
        header = stripe.WebhookSignature.generate_signature_header(
            body.decode(), WHSEC, timestamp=now
        )
        events.append((body, {"Stripe-Signature": header, "Content-Type": "application/json"}))
    return events


def drive(
    url: str, events: list[tuple[bytes, dict[str, str]]], seconds: float, concurrency: int
) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    cursor = [0]
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)
    end = [0.0]

    def worker(slot: int) -> None:
        with httpx.Client(timeout=30) as http:
            ready.wait()
            while time.perf_counter() < end[0]:
                with lock:
                    body, headers = events[cursor[0] % len(events)]
                    cursor[0] += 1
                started = time.perf_counter()
                status = http.post(url, content=body, headers=headers).status_code
                if status == 200:
                    latencies[slot].append(time.perf_counter() - started)
                else:
                    errors[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    begin = time.perf_counter()
    end[0] = begin + seconds
    ready.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    every = sorted(x for per in latencies for x in per)
    return {
        "rps": len(every) / elapsed,
        "ok": len(every),
        "errors": sum(errors),
        "p50_ms": every[len(every) // 2] * 1000 if every else None,
        "p99_ms": every[int(len(every) * 0.99)] * 1000 if every else None,
    }


def measure(seconds: float, concurrency: int, rounds: int) -> dict[str, Any]:
    """Both servers side by side, ``rounds`` rounds of ``seconds`` each, the order of the two
    alternating from round to round; the median round of each, their ratio and Tether's
    acceptance latency. Beside it, the server CPU each accepted request cost (arbiter and
    worker), which the machine's other load disturbs less than throughput."""
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as bare_data:
        path = stripe_connection(data)
        tether, tether_url = start("webhooks", SOURCE, data)
        bare, bare_url = start("bare", HERE / "bare_function.py", bare_data)
        try:
            # Enough distinct events that none repeats within a run (repeats are duplicates).
            events = signed_events(int(seconds * rounds * 3000) + 1000, "b")
            warm = drive(tether_url + path, events[:200], 1.0, concurrency)  # warm up
            drive(bare_url + "/", events[:200], 1.0, concurrency)
            samples: dict[str, list[dict[str, Any]]] = {"bare": [], "tether": []}
            offset = 200

            def bare_round() -> None:
                before = cpu_seconds(bare.pid)
                result = drive(bare_url + "/", events, seconds, concurrency)
                samples["bare"].append(result | _cpu_per_request(bare.pid, before, result))

            def tether_round() -> None:
                nonlocal offset
                before = cpu_seconds(tether.pid)
                result = drive(tether_url + path, events[offset:], seconds, concurrency)
                offset += result["ok"] + result["errors"]
                samples["tether"].append(result | _cpu_per_request(tether.pid, before, result))

            for n in range(rounds):
                for one in (bare_round, tether_round) if n % 2 == 0 else (tether_round, bare_round):
                    one()
        finally:
            for process in (tether, bare):
                process.terminate()
                process.wait(timeout=10)
        stored, queued = _events_and_tasks(Path(data))

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in samples[name]))

    summary = {
        "concurrency": concurrency,
        "seconds": seconds,
        "rounds": rounds,
        "bare_rps": median("bare", "rps"),
        "tether_rps": median("tether", "rps"),
        "tether_p50_ms": median("tether", "p50_ms"),
        "tether_p99_ms": median("tether", "p99_ms"),
        "tether_errors": sum(r["errors"] for r in samples["tether"]),
        "bare_cpu_us": median("bare", "cpu_us"),
        "tether_cpu_us": median("tether", "cpu_us"),
        # (the warm-up sends its 200 events over and over: the rest of its answers are duplicates)
        "events_accepted": min(warm["ok"], 200) + sum(r["ok"] for r in samples["tether"]),
        "events_stored": stored,
        "tasks_written": queued,
    }
    summary["ratio"] = summary["tether_rps"] / summary["bare_rps"]
    summary["cpu_ratio"] = summary["bare_cpu_us"] / max(summary["tether_cpu_us"], 1e-9)
    # A round of each, back to back: the median of their ratios cancels a drift of the
    # machine's load that the ratio of two medians can still carry.
    summary["paired_ratio"] = statistics.median(
        t["rps"] / max(b["rps"], 1e-9)
        for b, t in zip(samples["bare"], samples["tether"], strict=True)
    )
    return summary


def _events_and_tasks(data: Path) -> tuple[int, int]:
    """Events the server stored and ``process_webhook`` tasks its queue wrote, read from its
    files once it has stopped: the queue writes tasks in batches after the answer, so this is
    the check that every accepted event got its task."""
    with closing(sqlite3.connect(data / "tether.sqlite3")) as store:
        (stored,) = store.execute("SELECT COUNT(*) FROM webhook_events").fetchone()
    with closing(sqlite3.connect(data / "tasks.sqlite3")) as tasks:
        (queued,) = tasks.execute(
            "SELECT COUNT(*) FROM tasks WHERE kind = 'process_webhook'"
        ).fetchone()
    return int(stored), int(queued)


def _cpu_per_request(pid: int, before: float | None, result: dict[str, Any]) -> dict[str, float]:
    """Server CPU microseconds per answered request over one round (0 without ``/proc``)."""
    after = cpu_seconds(pid)
    if before is None or after is None:
        return {"cpu_us": 0.0}
    return {"cpu_us": (after - before) * 1e6 / max(result["ok"] + result["errors"], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    summary = measure(args.seconds, args.concurrency, args.rounds)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"Webhook acceptance, {args.concurrency} client threads, {args.rounds} rounds of "
        f"{args.seconds:.0f} s (median round)"
    )
    print(f"  bare function (200 to anything)   {summary['bare_rps']:8.0f} req/s")
    print(f"  tether webhooks (verify+dedupe+enqueue) {summary['tether_rps']:8.0f} accepted/s")
    print(f"  ratio tether/bare                 {summary['ratio']:8.2f}x   target >= 0.6")
    print(
        f"  tether acceptance latency          p50 {summary['tether_p50_ms']:.1f} ms, "
        f"p99 {summary['tether_p99_ms']:.1f} ms"
    )
    print(
        f"  server CPU per request             bare {summary['bare_cpu_us']:.0f} us, tether "
        f"{summary['tether_cpu_us']:.0f} us (ratio bare/tether {summary['cpu_ratio']:.2f}x)"
    )
    print(f"  median of the rounds' own ratios   {summary['paired_ratio']:8.2f}x")
    print(f"  tether errors                      {summary['tether_errors']}")
    print(
        f"  events accepted {summary['events_accepted']}, stored {summary['events_stored']}, "
        f"their tasks written {summary['tasks_written']} (read from the files after the stop)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

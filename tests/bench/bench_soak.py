"""Soak benchmark: ``tether dev`` under 50,000 mixed requests keeps its open files, threads and
memory flat.

Starts ``tether dev`` (a temporary data folder, the embedded stack, its file limit lowered to
``--nofile``, 1024 by default, as on many machines) and a local sample API on loopback, then
drives ``--requests`` requests from ``--clients`` threads, each on a kept-alive connection
with every ``--fresh-every``-th request on a new one. The mix, per ten requests: create a
Stripe connection, read it twice, list (all, and ``status=active``), rename it (PATCH), read
the catalog and one entry of it, test a saved REST API connection against the local API
(the outbound client path), delete the connection. Prints the server's open file
descriptors, threads and resident memory at the start (after a warm-up), the middle and the
end, side by side, with the throughput and the count of answers that were not 2xx.

Run: ``make bench-soak`` or ``python tests/bench/bench_soak.py [--requests N] [--clients N]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tether_emulators.sample_api import SampleApi

ROOT = Path(__file__).resolve().parents[2]
TETHER = [sys.executable, "-m", "tether.cli"]
NO_DEMO = ["--demo-provider-port", "0"]
STRIPE_KEY = "sk_test_51SoakBenchKey0000000000000000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(pid: int) -> dict[str, float]:
    """Open fds, threads and resident memory (MB) of process ``pid``, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return {
        "open fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "RSS MB": rss_kb / 1024,
    }


class Server:
    """``tether dev`` in a subprocess, its log lines read (and dropped) as they come."""

    def __init__(self, data_dir: Path, nofile: int, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = env

        def limit_files() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.process = subprocess.Popen(
            [*TETHER, "dev", "--port", str(self.port), "--data-dir", str(data_dir), *NO_DEMO],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_files,  # only setrlimit, before exec
        )
        self.tail: list[bytes] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        self._reader = threading.Thread(target=self._drain, args=(stdout,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit("tether dev exited:\n" + b"".join(self.tail).decode())
            try:
                if httpx.get(f"{self.url}/catalog/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("tether dev did not answer within 60 s")

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.tail = [*self.tail[-20:], line]

    def token(self) -> str:
        return subprocess.run(
            [*TETHER, "token", "--tenant", "soak", "--data-dir", str(self.data_dir)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Driver:
    """One client thread's share of the mix."""

    def __init__(self, url: str, token: str, api_url: str, fresh_every: int) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = httpx.Client(base_url=url, headers=self.headers, timeout=30)
        self.fresh_every = fresh_every
        self.sent = 0
        self.failures: dict[str, int] = {}
        self.current: str | None = None
        tested = self.client.post(
            "/connections/",
            json={
                "provider": "rest_api",
                "config": {
                    "base_url": api_url,
                    "auth_method": "bearer",
                    "test_path": "/me",
                    "rate_limit_per_minute": 100_000,
                    "rate_limit_burst": 10_000,
                },
                "credentials": {"token": "soak-bench-token"},
            },
        )
        tested.raise_for_status()
        self.tested_id = tested.json()["id"]

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.sent += 1
        if self.sent % self.fresh_every == 0:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as fresh:
                response = fresh.request(method, path, **kwargs)
        else:
            response = self.client.request(method, path, **kwargs)
        if not response.is_success:
            key = f"{method} {path.split('/')[1]} {response.status_code}"
            self.failures[key] = self.failures.get(key, 0) + 1
        return response

    def step(self, i: int) -> None:
        op = i % 10
        if op == 0 or self.current is None:
            created = self._send(
                "POST",
                "/connections/",
                json={"provider": "stripe", "credentials": {"api_key": STRIPE_KEY}},
            )
            self.current = created.json().get("id") if created.is_success else None
            return
        cid = self.current
        actions: dict[int, Callable[[], object]] = {
            1: lambda: self._send("GET", f"/connections/{cid}"),
            2: lambda: self._send("GET", "/connections/?limit=20"),
            3: lambda: self._send("PATCH", f"/connections/{cid}", json={"display_name": f"n{i}"}),
            4: lambda: self._send("GET", "/catalog/"),
            5: lambda: self._send("POST", f"/test_connection/{self.tested_id}"),
            6: lambda: self._send("GET", "/connections/?status=active&limit=5"),
            7: lambda: self._send("GET", "/catalog/stripe"),
            8: lambda: self._send("GET", f"/connections/{cid}"),
            9: lambda: self._send("DELETE", f"/connections/{cid}"),
        }
        actions[op]()
        if op == 9:
            self.current = None


def drive(drivers: list[Driver], total: int, counter: itertools.count[int]) -> float:
    """Run ``total`` more steps spread over the drivers' threads; returns the seconds taken."""
    started = time.perf_counter()
    per_driver = total // len(drivers)

    def run(driver: Driver) -> None:
        for _ in range(per_driver):
            driver.step(next(counter))

    threads = [threading.Thread(target=run, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--fresh-every", type=int, default=10)
    parser.add_argument("--nofile", type=int, default=1024)
    args = parser.parse_args(argv)
    api = SampleApi()
    api.start(host="127.0.0.1", port=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_EGRESS_ALLOWLIST"] = f"127.0.0.1:{api.port}"
    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder) / "data", args.nofile, env)
        try:
            token = server.token()
            drivers = [
                Driver(server.url, token, api.url, args.fresh_every) for _ in range(args.clients)
            ]
            counter = itertools.count()
            drive(drivers, 200 * args.clients, counter)  # warm-up: every worker has served
            half = args.requests // 2
            points = [("start", 0, sample(server.process.pid))]
            seconds = drive(drivers, half, counter)
            points.append(("middle", half, sample(server.process.pid)))
            seconds += drive(drivers, args.requests - half, counter)
            points.append(("end", args.requests, sample(server.process.pid)))
            failures: dict[str, int] = {}
            for driver in drivers:
                for key, count in driver.failures.items():
                    failures[key] = failures.get(key, 0) + count
                driver.client.close()
        finally:
            server.stop()
            api.stop()
    print(
        f"tether dev, embedded stack, file limit {args.nofile}: {args.requests:,} mixed requests "
        f"from {args.clients} clients in {seconds:.0f} s ({args.requests / seconds:,.0f}/s)\n"
    )
    print(f"{'':<12}" + "".join(f"{name:>12}" for name, _, _ in points))
    print(f"{'requests':<12}" + "".join(f"{n:>12,}" for _, n, _ in points))
    for metric in ("open fds", "threads", "RSS MB"):
        print(f"{metric:<12}" + "".join(f"{p[metric]:>12,.0f}" for _, _, p in points))
    print(f"\nanswers not 2xx: {sum(failures.values()):,}", failures or "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Foundation benchmark: Tether next to its baselines, each pair measured side by side in one run.

1. Cold start: wall time from starting ``functions-framework --target X --source FILE`` (same
   CLI and server for both) to the first answered request, polled every 5 ms. Baseline: a bare
   function returning a tiny JSON (``bare_function.py``); Tether: ``connections`` from
   ``functions/main.py`` on the embedded stack (fresh data folder each run), first request an
   authenticated ``GET /``. Runs come in pairs whose order alternates; the ratio is of the
   medians (the median of each pair's own ratio is printed beside it). Extra line: the first
   answered create (``POST /`` of a Stripe connection, which loads the provider catalog), sent
   right after that list. Beside wall time, figures a busy machine moves less
   (``process_figures.py``): the CPU the server spent until its first answer, and the modules
   each function has loaded once it answered (a count, no timing). Then the library floor
   (``library_floor.py``: the libraries the connection list needs, doing the least its request
   does, no Tether code) next to the bare function, in pairs of their own: the part of the
   ratio that Tether's own code cannot remove.
2. Throughput: both servers started once, side by side, and warmed up; C threads here, each
   with its own keep-alive ``httpx.Client``, send bare ``GET /``, Tether ``GET /<id>`` and
   ``POST /`` in turn, for R rounds of S/R seconds each; each figure is its median round. Only
   2xx count; errors are reported apart.
   A fifth server, ``tether dev`` (every function on one port, its access log on as a developer
   runs it), serves the same ``GET /connections/<id>``; its ratio is to Tether's function under
   functions-framework (as deployed).
3. Webhook acceptance (``bench_webhooks.py``): signed Stripe events POSTed to the ``webhooks``
   function next to the bare function.
4. Crypto: seal+open per second of a ~200-byte credential JSON (JSON coding included): Tether's
   ``Sealer`` (AES-256-GCM, HKDF tenant key, bound AAD) vs ``Fernet``; raw ``AESGCM`` for context.

The summary at the end prints the three ratios of the architecture issue, each next to its
target: cold start <= 1.6x, `tether dev` GET >= 0.9x, webhook acceptance >= 0.6x.

Run: ``make bench`` or ``python tests/bench/bench_foundation.py [--runs N] [--seconds S]
[--concurrency C] [--json]``. Exit code 0 whatever the figures (a measurement, not a test);
1 only if a measurement is invalid (more than 1% errors under load, or any accepted webhook
without its stored event and task).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import bench_webhooks  # the sibling script (its folder is on the path when run as a script)
import httpx
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from process_figures import cpu_seconds, modules_at_first_answer

from tether.api.auth import issue_dev_token
from tether.crypto import Keyring, Sealer

HERE = Path(__file__).resolve().parent
BARE = ("bare", HERE / "bare_function.py")
TETHER = ("connections", HERE.parents[1] / "functions" / "main.py")
FLOOR = ("connections", HERE / "library_floor.py")
FRAMEWORK = Path(sys.executable).with_name("functions-framework")
TETHER_CLI = Path(sys.executable).with_name("tether")
JWT_SECRET = secrets.token_hex(32)  # 64 characters
KEYRING = Keyring.generate().to_json()
STRIPE = {"provider": "stripe", "credentials": {"api_key": "sk_test_51BenchKey000000000000000000"}}
CREDENTIALS = {  # a typical credential payload, ~200 bytes of JSON
    "api_key": "sk_live_51Hx" + "a1B2c3D4e5F6g7H8" * 6,
    "webhook_secret": "whsec_" + "Zy9Xw8Vu7Ts6" * 4,
    "account_id": "acct_1Hx2Yz3Ab4Cd5Ef6",
}
# Targets of the architecture issue: cold start tether/bare at most 1.6x; `tether dev` GETs at
# least 0.9x the same function under functions-framework; webhook acceptance at least 0.6x bare.
COLD_START_MAX = 1.6
DEV_GET_MIN = 0.9
WEBHOOKS_MIN = 0.6
POLL_SECONDS = 0.005
START_DEADLINE = 60.0
QUIET = False


def say(text: str) -> None:
    if not QUIET:
        print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: str, *, access_log: bool = False) -> dict[str, str]:
    """The embedded stack with dev tokens, logging as deployed: no per-request access line
    (Cloud Run writes the request log; errors are always logged). ``access_log=True`` measures
    the `tether dev` default as well."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(
        TETHER_MODE="dev",
        TETHER_AUTH="dev",
        TETHER_DEV_JWT_SECRET=JWT_SECRET,
        TETHER_KEYRING=KEYRING,
        TETHER_DATA_DIR=data_dir,
        TETHER_TASK_WORKER="false",
        TETHER_ACCESS_LOG="true" if access_log else "false",
    )
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    started: float
    log: IO[bytes]
    http: httpx.Client

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server, SIGKILL its process group (the worker too) if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with suppress(ProcessLookupError):  # a worker left behind by the arbiter
        os.killpg(process.pid, signal.SIGKILL)


def client(token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(headers=headers, timeout=httpx.Timeout(60.0, connect=1.0))


@contextmanager
def serve(
    function: tuple[str, Path] | None,
    token: str | None = None,
    *,
    access_log: bool = False,
) -> Iterator[Server]:
    """Start ``functions-framework`` on a free loopback port with a fresh data folder; with
    ``function=None``, ``tether dev`` instead (every function under ``/<function>``, its
    default access log on, the demo OAuth provider off)."""
    port = free_port()
    if function is None:
        command = [str(TETHER_CLI), "dev", "--demo-provider-port", "0"]
    else:
        target, source = function
        command = [str(FRAMEWORK), "--target", target, "--source", str(source)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with (
        tempfile.TemporaryDirectory() as data,
        tempfile.TemporaryFile() as log,
        client(token) as http,
    ):
        env = environment(data, access_log=access_log)
        if function is None:
            del env["TETHER_ACCESS_LOG"]  # `tether dev` as a developer runs it
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}" + ("/connections" if function is None else "")
            yield Server(process, url, started, log, http)
        finally:
            http.close()  # an open keep-alive connection would hold up the graceful stop
            stop(process)


def first_answer(server: Server, status: int, body: dict[str, Any] | None = None) -> float:
    """Poll ``/`` (GET, or POST of ``body``) until answered; seconds since the process started."""
    deadline = time.perf_counter() + START_DEADLINE
    while True:
        try:
            response = server.http.request(
                "GET" if body is None else "POST", server.url + "/", json=body
            )
        except httpx.TransportError:
            if server.process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"server did not answer:\n{server.output()}") from None
            time.sleep(POLL_SECONDS)
            continue
        elapsed = time.perf_counter() - server.started
        if response.status_code != status:
            raise RuntimeError(f"{response.status_code} {response.text[:500]}\n{server.output()}")
        return elapsed


def byte_compile() -> None:
    """Write the bytecode of Tether's sources and of both functions, as ``pip install`` does
    for every installed library the bare function imports: an editable install has none, and
    with ``PYTHONDONTWRITEBYTECODE`` set, every cold start would compile ~60 modules from
    source (~50 ms), a cost no deployment pays twice."""
    for folder in (HERE.parents[1] / "shared" / "tether", TETHER[1].parent, HERE):
        compileall.compile_dir(folder, quiet=1)


def cold_starts(runs: int, token: str) -> dict[str, Any]:
    """``runs`` cold starts of each, in pairs whose order alternates (bare first, then Tether
    first), so a drift of the machine's load cannot favour one side. Besides wall time, the
    CPU seconds the server (arbiter and worker) spent until its first answer: the figure a
    busy machine disturbs least."""
    figures: dict[str, list[float]] = {
        "bare": [],
        "tether": [],
        "tether_first_create": [],
        "bare_cpu": [],
        "tether_cpu": [],
    }

    def bare_once() -> None:
        with serve(BARE) as srv:
            figures["bare"].append(first_answer(srv, 200))
            figures["bare_cpu"].append(cpu_seconds(srv.process.pid) or 0.0)

    def tether_once() -> None:
        with serve(TETHER, token) as srv:
            figures["tether"].append(first_answer(srv, 200))
            figures["tether_cpu"].append(cpu_seconds(srv.process.pid) or 0.0)
            figures["tether_first_create"].append(first_answer(srv, 201, STRIPE))

    for run in range(runs):
        for once in (bare_once, tether_once) if run % 2 == 0 else (tether_once, bare_once):
            once()
        times = ", ".join(f"{k} {v[-1]:.3f}s" for k, v in figures.items())
        say(f"  cold run {run + 1}/{runs}: {times}")
    out = {
        f"{k}_{f.__name__}_s": f(v) for k, v in figures.items() for f in (statistics.median, min)
    }
    out["ratio"] = out["tether_median_s"] / out["bare_median_s"]
    out["cpu_ratio"] = out["tether_cpu_median_s"] / max(out["bare_cpu_median_s"], 1e-9)
    # Each run's two starts are neighbours in time: the median of their ratios cancels a
    # drift of the machine's load that the ratio of two medians can still carry.
    out["paired_ratio"] = statistics.median(
        t / b for b, t in zip(figures["bare"], figures["tether"], strict=True)
    )
    with tempfile.TemporaryDirectory() as data:
        env = environment(data)
        out["bare_modules"] = modules_at_first_answer(*BARE, env)
        out["tether_modules"] = modules_at_first_answer(*TETHER, env, token)
    return out


def floor_starts(runs: int, token: str) -> dict[str, Any]:
    """``runs`` cold starts of the library floor and of the bare function, in pairs whose
    order alternates as in :func:`cold_starts`; wall time, server CPU and modules."""
    figures: dict[str, list[float]] = {"bare": [], "floor": [], "bare_cpu": [], "floor_cpu": []}

    def once(name: str, function: tuple[str, Path]) -> None:
        with serve(function, token) as srv:
            figures[name].append(first_answer(srv, 200))
            figures[name + "_cpu"].append(cpu_seconds(srv.process.pid) or 0.0)

    for run in range(runs):
        pair = (("bare", BARE), ("floor", FLOOR))
        for name, function in pair if run % 2 == 0 else pair[::-1]:
            once(name, function)
        say(
            f"  floor run {run + 1}/{runs}: bare {figures['bare'][-1]:.3f}s, "
            f"floor {figures['floor'][-1]:.3f}s"
        )
    out = {f"{k}_median_s": statistics.median(v) for k, v in figures.items()}
    out["ratio"] = out["floor_median_s"] / out["bare_median_s"]
    out["cpu_ratio"] = out["floor_cpu_median_s"] / max(out["bare_cpu_median_s"], 1e-9)
    out["paired_ratio"] = statistics.median(
        f / b for b, f in zip(figures["bare"], figures["floor"], strict=True)
    )
    with tempfile.TemporaryDirectory() as data:
        out["floor_modules"] = modules_at_first_answer(*FLOOR, environment(data), token)
    return out


def drive(
    url: str, token: str | None, body: dict[str, Any] | None, seconds: float, concurrency: int
) -> dict[str, Any]:
    """C threads, one keep-alive client each, for ``seconds``; 2xx per second and errors."""
    ok, errors = [0] * concurrency, [0] * concurrency
    ready = threading.Barrier(concurrency + 1)
    end = [0.0]
    method = "GET" if body is None else "POST"

    def worker(slot: int) -> None:
        with client(token) as http:
            ready.wait()
            while time.perf_counter() < end[0]:
                try:
                    status = http.request(method, url, json=body).status_code
                except httpx.HTTPError:
                    status = 0
                if 200 <= status < 300:
                    ok[slot] += 1
                else:
                    errors[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    end[0] = start + seconds
    ready.wait()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.perf_counter() - start
    n_ok, n_errors = sum(ok), sum(errors)
    rate = n_errors / (n_ok + n_errors) if n_ok + n_errors else 1.0
    return {"rps": n_ok / elapsed, "ok": n_ok, "errors": n_errors, "error_rate": rate}


def throughput(
    seconds: float, concurrency: int, warmup: float, token: str, rounds: int = 3
) -> dict[str, Any]:
    """The servers run at once (bare; Tether as deployed; Tether with `tether dev`'s access
    log) and the loads alternate for ``rounds`` rounds of ``seconds / rounds`` each; each figure
    is its median round, so a burst of noise on this shared 2-core machine cannot land on one
    side only."""
    out: dict[str, Any] = {"concurrency": concurrency, "seconds": seconds, "rounds": rounds}
    samples: dict[str, list[dict[str, Any]]] = {
        "bare_get": [],
        "tether_get": [],
        "tether_create": [],
        "tether_get_logged": [],
        "dev_get": [],
    }
    with (
        serve(BARE) as bare,
        serve(TETHER, token) as tether,
        serve(TETHER, token, access_log=True) as logged,
        serve(None, token) as dev,
    ):
        ids: dict[str, str] = {}
        for server in (bare, tether, logged, dev):
            first_answer(server, 200)
        for server in (tether, logged, dev):
            created = server.http.post(server.url + "/", json=STRIPE)
            created.raise_for_status()
            ids[server.url] = created.json()["id"]
        loads = {
            "bare_get": (bare.url + "/", None, None),
            "tether_get": (f"{tether.url}/{ids[tether.url]}", token, None),
            "tether_create": (tether.url + "/", token, STRIPE),
            "tether_get_logged": (f"{logged.url}/{ids[logged.url]}", token, None),
            "dev_get": (f"{dev.url}/{ids[dev.url]}", token, None),
        }
        for url, auth, body in loads.values():
            drive(url, auth, body, warmup, concurrency)
        for _ in range(rounds):
            for name, (url, auth, body) in loads.items():
                samples[name].append(drive(url, auth, body, seconds / rounds, concurrency))
    for name, runs in samples.items():
        runs.sort(key=lambda r: r["rps"])
        out[name] = runs[len(runs) // 2]
        say(
            f"  {name}: {out[name]['rps']:.0f} req/s (rounds: "
            + ", ".join(f"{r['rps']:.0f}" for r in runs)
            + ")"
        )
    bare_rps = max(out["bare_get"]["rps"], 1e-9)
    out["get_ratio"] = out["tether_get"]["rps"] / bare_rps
    out["create_ratio"] = out["tether_create"]["rps"] / bare_rps
    out["get_logged_ratio"] = out["tether_get_logged"]["rps"] / bare_rps
    out["dev_ratio"] = out["dev_get"]["rps"] / max(out["tether_get"]["rps"], 1e-9)
    return out


def crypto(seconds: float, rounds: int = 4) -> dict[str, Any]:
    """Seal+open per second, the three contenders alternating in ``rounds`` slices."""
    sealer = Sealer(Keyring.generate())
    fernet = Fernet(Fernet.generate_key())
    aesgcm = AESGCM(AESGCM.generate_key(bit_length=256))
    bind = {"tenant_id": "acme", "record_id": "conn_Bench000000000000", "purpose": "credentials"}
    aad = json.dumps(bind).encode()

    def compact(payload: dict[str, Any]) -> bytes:
        return json.dumps(payload, separators=(",", ":")).encode()

    def sealer_once() -> None:
        sealer.open_json(sealer.seal_json(CREDENTIALS, **bind), **bind)

    def fernet_once() -> None:
        json.loads(fernet.decrypt(fernet.encrypt(compact(CREDENTIALS))))

    def aesgcm_once() -> None:
        nonce = os.urandom(12)
        json.loads(aesgcm.decrypt(nonce, aesgcm.encrypt(nonce, compact(CREDENTIALS), aad), aad))

    contenders = {"sealer": sealer_once, "fernet": fernet_once, "aesgcm": aesgcm_once}
    counts = dict.fromkeys(contenders, 0)
    spent = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, once in contenders.items():
            start = time.perf_counter()
            end = start + seconds / rounds
            while (now := time.perf_counter()) < end:
                for _ in range(100):
                    once()
                counts[name] += 100
            spent[name] += now - start
    out: dict[str, Any] = {f"{n}_ops": counts[n] / spent[n] for n in contenders}
    out["payload_bytes"] = len(compact(CREDENTIALS))
    out["ratio"] = out["sealer_ops"] / out["fernet_ops"]
    return out


def report(result: dict[str, Any]) -> None:
    cold, load, hook, cr, ok = (
        result[k] for k in ("cold_start", "throughput", "webhooks", "crypto", "targets")
    )

    def row(label: str, *cells: str) -> None:
        print(f"   {label:36}" + "".join(f"{c:>12}" for c in cells))

    def target(label: str, ratio: float, goal: str, passed: bool | None) -> None:
        verdict = "" if passed is None else ("PASS" if passed else "FAIL")
        print(f"   {label:36}{ratio:>11.2f}x   target {goal:8} {verdict}".rstrip())

    rule = "-" * 78
    print(f"{rule}\nTether foundation benchmark: {result['cpus']} CPU cores, Python", end=" ")
    print(f"{result['python']}\n{rule}")
    print(f"1. Cold start: process start -> first answered request ({result['runs']} runs each)")
    compiled = "byte-compiled first" if result["compiled"] else "NOT byte-compiled (--no-compile)"
    print(f"   sources {compiled}")
    row("", "median", "min")
    for key, label in (
        ("bare", "bare function GET /"),
        ("tether", "tether connections GET /"),
        ("tether_first_create", "tether first create POST / *"),
    ):
        row(label, f"{cold[key + '_median_s']:.3f}s", f"{cold[key + '_min_s']:.3f}s")
    print("   * sent right after the first list, same process; it loads the provider catalog")
    print(
        f"   server CPU until the first answer (medians): bare {cold['bare_cpu_median_s']:.3f}s,"
        f" tether {cold['tether_cpu_median_s']:.3f}s, ratio {cold['cpu_ratio']:.2f}x"
    )
    print(
        f"   modules loaded at the first answer: bare {cold['bare_modules']},"
        f" tether {cold['tether_modules']}"
    )
    print(f"   median of the runs' own ratios (neighbours in time): {cold['paired_ratio']:.2f}x")
    target("ratio tether/bare (medians)", cold["ratio"], f"<= {COLD_START_MAX}", ok["cold_start"])
    floor = result["library_floor"]
    print(
        "   library floor (library_floor.py: Tether's libraries, no Tether code), in pairs of its"
        f" own:\n   floor {floor['floor_median_s']:.3f}s, bare {floor['bare_median_s']:.3f}s"
        f" (medians): {floor['ratio']:.2f}x, paired {floor['paired_ratio']:.2f}x,"
        f" CPU {floor['cpu_ratio']:.2f}x; {floor['floor_modules']} modules"
    )
    print(
        f"2. Throughput: {load['concurrency']} keep-alive clients, {load['seconds']:g}s per line"
        f" in {load['rounds']} alternating rounds (median round shown)"
    )
    print(
        f"   NOTE: the load generator shares this machine's {result['cpus']} cores with the server"
    )
    row("", "req/s", "2xx", "errors")
    for key, label in (
        ("bare_get", "bare function GET /"),
        ("tether_get", "tether GET /<id>"),
        ("tether_create", "tether POST / (create)"),
        ("tether_get_logged", "tether GET /<id>, access log on **"),
        ("dev_get", "tether dev GET /connections/<id> **"),
    ):
        line = load[key]
        row(label, f"{line['rps']:.0f}", str(line["ok"]), str(line["errors"]))
        if line["error_rate"] > 0.01:
            print(f"   ** INVALID: {line['error_rate']:.1%} of {label} requests failed **")
    target("ratio get/bare", load["get_ratio"], ">= 0.5", ok["get_vs_bare"])
    target("ratio create/bare", load["create_ratio"], "(none)", None)
    target("ratio get (access log on)/bare", load["get_logged_ratio"], "(none)", None)
    target("ratio tether dev get/tether get", load["dev_ratio"], f">= {DEV_GET_MIN}", ok["dev_get"])
    print("   ** `tether dev`'s default; deployed functions leave request logs to Cloud Run")
    print(
        f"3. Webhook acceptance: {hook['concurrency']} clients POST signed Stripe events,"
        f" {hook['rounds']} rounds of {hook['seconds']:g}s (median round)"
    )
    row("", "req/s", "p50", "p99")
    row("bare function POST /", f"{hook['bare_rps']:.0f}")
    row(
        "tether webhooks POST /<token>",
        f"{hook['tether_rps']:.0f}",
        f"{hook['tether_p50_ms']:.1f}ms",
        f"{hook['tether_p99_ms']:.1f}ms",
    )
    print(
        f"   server CPU per request (medians): bare {hook['bare_cpu_us']:.0f} us, tether"
        f" {hook['tether_cpu_us']:.0f} us, ratio bare/tether {hook['cpu_ratio']:.2f}x"
    )
    print(f"   median of the rounds' own ratios (neighbours in time): {hook['paired_ratio']:.2f}x")
    print(
        f"   events accepted {hook['events_accepted']}, stored {hook['events_stored']}, their"
        f" tasks written {hook['tasks_written']} (read from the files after the stop)"
    )
    target("ratio tether/bare", hook["ratio"], f">= {WEBHOOKS_MIN}", ok["webhooks"])
    print(f"4. Crypto: seal+open of a {cr['payload_bytes']}-byte credential JSON")
    row("", "ops/s")
    for key, label in (
        ("sealer", "tether Sealer (AES-256-GCM)"),
        ("fernet", "Fernet (AES-128-CBC + HMAC)"),
        ("aesgcm", "raw AESGCM (for context)"),
    ):
        row(label, f"{cr[key + '_ops']:.0f}")
    target("ratio Sealer/Fernet", cr["ratio"], "> 1.0", ok["sealer_vs_fernet"])
    print(f"{rule}\nThe three targets of the architecture issue, side by side:")
    target("cold start tether/bare", cold["ratio"], f"<= {COLD_START_MAX}", ok["cold_start"])
    target(
        "tether dev GET/functions-framework", load["dev_ratio"], f">= {DEV_GET_MIN}", ok["dev_get"]
    )
    target("webhook acceptance tether/bare", hook["ratio"], f">= {WEBHOOKS_MIN}", ok["webhooks"])
    print(rule)


def main(argv: list[str] | None = None) -> int:
    global QUIET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="cold starts of each (default 15)")
    parser.add_argument("--seconds", type=float, default=6.0, help="load per figure (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up load (default 1 s)")
    parser.add_argument(
        "--webhook-seconds", type=float, default=3.0, help="webhook round (default 3 s)"
    )
    parser.add_argument(
        "--webhook-rounds", type=int, default=5, help="alternating webhook rounds (default 5)"
    )
    parser.add_argument("--crypto-seconds", type=float, default=2.0, help="per cipher (default 2)")
    parser.add_argument(
        "--no-compile", action="store_true", help="cold starts without byte-compiling first"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    QUIET = args.json
    counts = (args.runs, args.concurrency, args.rounds, args.webhook_rounds)
    if min(counts) < 1 or min(args.seconds, args.crypto_seconds) <= 0:
        parser.error("--runs, --concurrency and rounds must be >= 1, durations > 0")
    if not FRAMEWORK.exists():
        parser.error(f"no functions-framework next to {sys.executable}")
    token = issue_dev_token(JWT_SECRET, tenant_id="bench", user_id="bench-user")

    if not args.no_compile:
        byte_compile()
    say(f"cold start: {args.runs} alternating runs each")
    cold = cold_starts(args.runs, token)
    floor = floor_starts(args.runs, token)
    say(f"throughput: {args.concurrency} clients, {args.seconds:g}s per figure")
    load = throughput(args.seconds, args.concurrency, args.warmup, token, args.rounds)
    say(f"webhooks: {args.concurrency} clients, {args.webhook_seconds:g}s per round")
    hook = bench_webhooks.measure(args.webhook_seconds, args.concurrency, args.webhook_rounds)
    say(f"crypto: {args.crypto_seconds:g}s per cipher")
    cr = crypto(args.crypto_seconds)

    result: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    result |= {"runs": args.runs, "compiled": not args.no_compile, "cold_start": cold}
    result |= {"library_floor": floor}
    result |= {"throughput": load}
    result |= {"webhooks": hook, "crypto": cr}
    result["targets"] = {
        "cold_start": cold["ratio"] <= COLD_START_MAX,
        "get_vs_bare": load["get_ratio"] >= 0.5,
        "dev_get": load["dev_ratio"] >= DEV_GET_MIN,
        "webhooks": hook["ratio"] >= WEBHOOKS_MIN,
        "sealer_vs_fernet": cr["ratio"] > 1.0,
    }
    invalid = [
        k
        for k in ("bare_get", "tether_get", "tether_create", "dev_get")
        if load[k]["error_rate"] > 0.01
    ]
    # Acceptance writes each event's task after its answer: every accepted event must have one.
    lost = hook["events_accepted"] - min(hook["events_stored"], hook["tasks_written"])
    if lost or hook["tether_errors"]:
        invalid.append("webhooks")
    result["invalid"] = invalid
    if not args.json:
        report(result)
        if invalid:
            print(
                f"ERROR: errors under load, or accepted webhooks without their stored event or "
                f"task, in {', '.join(invalid)}; figures invalid"
            )
    print(json.dumps(result, separators=(",", ":")))
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())

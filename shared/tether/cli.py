"""The ``tether`` command: ``dev [--gcp] [--simulators]``, ``token``,
``keys generate|rotate|retire``, ``emulators start``, ``catalog``, ``package``, ``import``.

Size: one argument parser and one short function per command.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from tether.connections.key_rotation import RotationReport
    from tether.stand_ins import DemoProvider, ProviderSimulators, RunningEmulators

__all__ = ["main"]

_DEMO_PORT = 8085
_DEV_FRONTENDS = "http://localhost:3000,http://localhost:5173,http://127.0.0.1:3000"


def _dev_environment(data_dir: str | None) -> None:
    """``tether dev`` and the dev helpers run the embedded stack in dev mode by default."""
    os.environ.setdefault("TETHER_MODE", "dev")
    os.environ.setdefault("TETHER_AUTH", "dev")
    if data_dir:
        os.environ["TETHER_DATA_DIR"] = data_dir


# `tether dev --gcp`: the project the emulators serve, and the service account whose OIDC
# tokens the Cloud Tasks emulator signs for the `tasks` function.
_DEV_GCP_PROJECT = "tether-dev"
_DEV_TASKS_SERVICE_ACCOUNT = "tether-tasks@tether-dev.iam.gserviceaccount.com"
# Where the clients find the emulators (the variables `tether emulators start` prints).
EMULATOR_VARIABLES = (
    "FIRESTORE_EMULATOR_HOST",
    "SECRET_MANAGER_EMULATOR_HOST",
    "CLOUD_TASKS_EMULATOR_HOST",
)
CLOUD_TASKS_JWKS = "CLOUD_TASKS_EMULATOR_JWKS_URL"


def _start_emulators(needed_by: str, **options: Any) -> RunningEmulators:
    from tether.stand_ins import start_gcp_emulators

    try:
        return start_gcp_emulators(needed_by=needed_by, **options)
    except (RuntimeError, OSError) as exc:
        raise SystemExit(f"tether: the emulators did not start: {exc}") from None


def _gcp_environment(base_url: str) -> RunningEmulators:
    """Point every backend at the emulators named by the ``*_EMULATOR_HOST`` variables,
    starting those that are not set. Returns the emulators it started (to stop them)."""
    given = {name: os.environ[name] for name in EMULATOR_VARIABLES if os.environ.get(name)}
    if CLOUD_TASKS_JWKS in os.environ:
        given[CLOUD_TASKS_JWKS] = os.environ[CLOUD_TASKS_JWKS]
    if "CLOUD_TASKS_EMULATOR_HOST" in given and CLOUD_TASKS_JWKS not in given:
        raise SystemExit(
            "tether dev --gcp: CLOUD_TASKS_EMULATOR_HOST is set without "
            "CLOUD_TASKS_EMULATOR_JWKS_URL (both lines come from `tether emulators start`)"
        )
    started = _start_emulators("tether dev --gcp", already_running=given)
    os.environ.update(started.environment)
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", _DEV_GCP_PROJECT)
    defaults = {
        "TETHER_STORE": "firestore",
        "TETHER_SECRETS": "secret_manager",
        "TETHER_TASKS": "cloud_tasks",
        "TETHER_TASKS_URL": f"{base_url}/tasks",
        "TETHER_TASKS_SERVICE_ACCOUNT": _DEV_TASKS_SERVICE_ACCOUNT,
        "TETHER_TASKS_AUTH": "oidc",
        "TETHER_TASKS_OIDC_JWKS_URL": started.environment[CLOUD_TASKS_JWKS],
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return started


def _cmd_dev(args: argparse.Namespace) -> int:
    _dev_environment(args.data_dir)
    base_url = f"http://{args.host}:{args.port}"
    os.environ.setdefault("TETHER_PUBLIC_URL", base_url)
    os.environ.setdefault("TETHER_FRONTEND_URL", _DEV_FRONTENDS)

    from tether.logs import configure_logging

    configure_logging()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    os.environ.setdefault("TETHER_ALLOWED_RETURN_URLS", f"{_DEV_FRONTENDS},{base_url}/")
    demo = None if args.demo_provider_port == 0 else _start_demo_provider(args, base_url)
    demo_port = None if demo is None else demo.port
    emulators = None
    simulators = None
    try:
        if args.simulators:
            from tether.dev_simulators import start_simulators

            simulators = start_simulators(base_url=base_url)
        emulators = _gcp_environment(base_url) if args.gcp else None
        return _serve_dev(args, base_url, emulators, demo_port, simulators)
    finally:
        if emulators is not None:
            emulators.stop()
        if simulators is not None:
            simulators.stop()
        if demo is not None:
            demo.stop()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listen_on_first(start: Callable[[int], DemoProvider], ports: list[int]) -> DemoProvider:
    """The demo provider started on the first of ``ports`` it can listen on (0: any free
    port). Another process may take the default port between the probe and the bind (two
    ``tether dev`` starting at once): the next port is tried then."""
    import logging

    for port in ports[:-1]:
        try:
            return start(port)
        except (OSError, SystemExit):  # werkzeug exits when it cannot bind
            logging.getLogger("tether.dev").warning(
                "port %d was taken meanwhile; the demo OAuth provider tries the next", port
            )
    try:
        return start(ports[-1])
    except (OSError, SystemExit) as exc:
        raise SystemExit(
            f"tether dev: the demo OAuth provider cannot listen on port {ports[-1]} ({exc}); "
            "pass another --demo-provider-port, or 0 to run without it"
        ) from None


def _start_demo_provider(args: argparse.Namespace, base_url: str) -> DemoProvider | None:
    """The local OAuth provider behind the catalog's ``demo`` entry, with a client registered
    for this server's callback URL, so the whole OAuth flow works offline. Without the
    stand-ins installed: a warning and no demo, unless its port was asked for."""
    import logging
    import secrets

    from tether.stand_ins import StandInMissing, start_demo_oauth_provider

    dev_log = logging.getLogger("tether.dev")
    client_secret = secrets.token_urlsafe(32)
    asked = args.demo_provider_port
    ports = [asked] if asked is not None else [_DEMO_PORT, 0]
    if asked is None and not _port_free(args.host, _DEMO_PORT):
        # Most likely a second `tether dev` on this machine: any free port will do, and the
        # `demo` entry is pointed at it below.
        dev_log.warning(
            "port %d is taken (another tether dev?); the demo OAuth provider takes a free port",
            _DEMO_PORT,
        )
        ports = [0]

    def start(port: int) -> DemoProvider:
        return start_demo_oauth_provider(
            host=args.host,
            port=port,
            client_id="tether-demo",
            client_secret=client_secret,
            redirect_uri=f"{base_url}/oauth_callback/",
        )

    try:
        provider = _listen_on_first(start, ports)
    except StandInMissing as missing:
        if asked is not None:
            raise
        dev_log.warning("%s; serving without it", missing.code)
        return None
    # The demo provider is on loopback, which the SSRF guard refuses unless allowlisted.
    loopback = args.host if args.host in ("127.0.0.1", "localhost") else "127.0.0.1"
    demo_address = f"{loopback}:{provider.port}"
    allowlist = os.environ.get("TETHER_EGRESS_ALLOWLIST")
    os.environ["TETHER_EGRESS_ALLOWLIST"] = (
        f"{allowlist},{demo_address}" if allowlist else demo_address
    )
    # The `demo` entry's issuer is its base_url (RFC 9207): name the provider the same way.
    provider.issuer = f"http://{loopback}:{provider.port}"
    os.environ.setdefault(
        "TETHER_CATALOG_CONFIG_DEFAULTS",
        json.dumps({"demo": {"base_url": provider.issuer}}),
    )
    os.environ.setdefault("TETHER_OAUTH_CLIENT_DEMO_ID", "tether-demo")
    os.environ.setdefault("TETHER_OAUTH_CLIENT_DEMO_SECRET", client_secret)
    return provider


def _serve_dev(
    args: argparse.Namespace,
    base_url: str,
    emulators: RunningEmulators | None,
    demo_port: int | None,
    simulators: ProviderSimulators | None = None,
) -> int:
    from tether.api.openapi import openapi_document
    from tether.bootstrap import get_container
    from tether.devserver import build_app, find_functions_source, load_functions
    from tether.worker_pool_server import WorkerPoolWSGIServer

    container = get_container()
    # Build everything up front: a broken keyring or store fails here, not on a request, and
    # the dev secrets `tether token` reads exist from the start.
    _ = (container.keyring, container.verifier, container.store, container.tasks, container.catalog)
    _ = container.task_caller_verifier
    s = container.settings
    if emulators is not None:
        from tether.adapters.cloud_tasks import CloudTasksQueue

        if isinstance(container.tasks, CloudTasksQueue):
            container.tasks.ensure_queues(s.task_queue_names)
    functions = load_functions(find_functions_source(Path(args.source) if args.source else None))
    app = build_app(functions, openapi=lambda: openapi_document(base_url))
    server = WorkerPoolWSGIServer(args.host, args.port, app, workers=args.threads)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    if emulators is None:
        backends = f"{s.data_dir.resolve()} (SQLite store, AES-GCM secrets, local task queue)"
    else:
        backends = (
            f"Firestore {os.environ['FIRESTORE_EMULATOR_HOST']}, Secret Manager "
            f"{os.environ['SECRET_MANAGER_EMULATOR_HOST']}, Cloud Tasks "
            f"{os.environ['CLOUD_TASKS_EMULATOR_HOST']} (project {s.gcp_project})"
        )
    print(
        f"tether dev: serving {', '.join('/' + n + '/' for n in functions)} on {base_url}\n"
        f"  data:    {backends}\n"
        f"  openapi: {base_url}/openapi.json\n"
        f"  token:   tether token --tenant acme"
        + ("" if s.data_dir == Path(".tether") else f" --data-dir {s.data_dir}")
        + (
            f"\n  demo:    the `demo` provider's OAuth server on http://{args.host}:{demo_port}"
            if "demo" in s.oauth_clients
            else ""
        )
        + (
            f"\n  simulators: {', '.join(simulators.providers)}: APIs on "
            f"{simulators.api_url}, OAuth (consent automatic) on {simulators.issuer}"
            + "".join(
                f"\n    {key}: connect with {json.dumps(dict(values))}"
                for key, values in simulators.connect_values.items()
            )
            if simulators is not None
            else ""
        ),
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        container.close()
    return 0


def _cmd_emulators_start(args: argparse.Namespace) -> int:
    import logging

    # stdout carries only the `export` lines, so `source <(...)`-style use works.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    emulators = _start_emulators(
        "tether emulators start",
        host=args.host,
        firestore_port=args.firestore_port,
        secret_manager_port=args.secret_manager_port,
        tasks_port=args.tasks_port,
        tasks_http_port=args.tasks_jwks_port,
    )
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("\n".join(emulators.export_lines()), flush=True)
    try:
        stopped.wait()
    finally:
        emulators.stop()
    return 0


def _dev_data_dir(explicit: str | None, secret_file: str) -> Path:
    """The data folder of the ``tether dev`` this command talks to: ``--data-dir``, else
    ``$TETHER_DATA_DIR``, else the nearest ``.tether`` holding ``secret_file`` from here up
    (so the command works from any subfolder of the project, like git)."""
    if explicit or os.environ.get("TETHER_DATA_DIR"):
        return Path(explicit or os.environ["TETHER_DATA_DIR"])
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / ".tether" / secret_file).is_file():
            return folder / ".tether"
    return here / ".tether"


def _cmd_token(args: argparse.Namespace) -> int:
    secret_file, variable = (
        ("task_token", "TETHER_TASK_TOKEN")
        if args.tasks
        else ("dev_jwt_secret", "TETHER_DEV_JWT_SECRET")
    )
    data_dir = _dev_data_dir(args.data_dir, secret_file)
    if not os.environ.get(variable) and not (data_dir / secret_file).is_file():
        # Minting a secret here would give a token the running server refuses (401).
        print(
            f"tether token: no {secret_file} in {data_dir.resolve()}: `tether dev` creates it "
            "when it first starts. Run `tether token` in the folder where `tether dev` runs "
            f"(or below it), or pass --data-dir, or set {variable}.",
            file=sys.stderr,
        )
        return 2
    _dev_environment(str(data_dir))
    from tether.api.auth import issue_dev_token
    from tether.bootstrap import Container

    container = Container()
    if args.tasks:
        print(container.task_token)
        return 0
    if not args.tenant:
        print("tether token: --tenant is required (or --tasks)", file=sys.stderr)
        return 2
    token = issue_dev_token(
        container.dev_jwt_secret,
        tenant_id=args.tenant,
        user_id=args.user,
        ttl=timedelta(hours=args.ttl_hours),
    )
    print(token)
    return 0


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    from tether.crypto import Keyring, load_keyring_file, new_key_entry, save_keyring_file

    key_id, key = new_key_entry(args.id)
    if not args.add:
        print(Keyring({key_id: key}, key_id).to_json())
        return 0
    if _remote_keyring_configured():
        from tether.remote_keys import add_key

        return add_key(args.data_dir, key_id, key, primary=not args.secondary)
    if os.environ.get("TETHER_KEYRING"):
        print(
            "TETHER_KEYRING is set in the environment; add the key there instead "
            "(run without --add to print one)",
            file=sys.stderr,
        )
        return 2
    _dev_environment(args.data_dir)
    from tether.config import Settings

    path = Settings.from_env().default_keyring_file
    current = load_keyring_file(path)
    keyring = (
        Keyring({key_id: key}, key_id)
        if current is None
        else current.with_key(key_id, key, primary=not args.secondary)
    )
    save_keyring_file(path, keyring)
    role = "secondary" if args.secondary and current is not None else "primary"
    print(f"added key {key_id} as {role} to {path}; run `tether keys rotate` to re-encrypt")
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    _dev_environment(args.data_dir)
    from tether.bootstrap import Container
    from tether.config import Settings
    from tether.crypto import FileKeyringSource

    container = Container(Settings.from_env(task_worker=False))
    try:
        source = container.keyring_source
        if isinstance(source, FileKeyringSource):
            _let_instances_reload(source.path)
        report = container.key_rotation.rotate()
    finally:
        container.close()
    print(json.dumps(report.as_dict()))
    print(_rotation_summary(report), file=sys.stderr)
    return 1 if report.failed or report.unreadable else 0


def _cmd_keys_retire(args: argparse.Namespace) -> int:
    if _remote_keyring_configured():
        from tether.remote_keys import retire_key

        return retire_key(args.data_dir, args.key_id)
    if os.environ.get("TETHER_KEYRING"):
        print(
            "TETHER_KEYRING is set in the environment; remove the key there instead",
            file=sys.stderr,
        )
        return 2
    _dev_environment(args.data_dir)
    from tether.bootstrap import Container
    from tether.config import Settings
    from tether.crypto import load_keyring_file, save_keyring_file
    from tether.remote_keys import retirement_refusal

    container = Container(Settings.from_env(task_worker=False))
    try:
        path = container.settings.default_keyring_file
        container.keyring.without_key(args.key_id)  # refuses the primary or an unknown id
        usage = container.key_rotation.key_usage()
    finally:
        container.close()
    refusal = retirement_refusal(usage, args.key_id)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 1
    current = load_keyring_file(path)  # as it is now, should it have changed meanwhile
    if current is None:
        print(f"no keyring file at {path}", file=sys.stderr)
        return 1
    save_keyring_file(path, current.without_key(args.key_id))
    print(f"removed key {args.key_id} from {path}: nothing in the store is sealed under it")
    _forget_tombstones_of(args.key_id, path)
    return 0


def _remote_keyring_configured() -> bool:
    """The keyring is kept in Secret Manager or AWS Secrets Manager, not in a file."""
    return bool(
        os.environ.get("TETHER_KEYRING_SECRET") or os.environ.get("TETHER_KEYRING_AWS_SECRET")
    )


def _forget_tombstones_of(key_id: str, path: Path) -> None:
    """The db secret store's tombstones of versions sealed under the removed key go too:
    nothing can open those envelopes now. Once every instance has reloaded the keyring."""
    from tether.adapters.db_secrets import DbSecretStore
    from tether.bootstrap import Container
    from tether.config import Settings

    _let_instances_reload(path)
    container = Container(Settings.from_env(task_worker=False))
    try:
        secrets = container.secrets
        if isinstance(secrets, DbSecretStore):
            forgotten = secrets.forget_key(key_id)
            print(f"dropped {forgotten} tombstone(s) of credential versions sealed under {key_id}")
    finally:
        container.close()


def _let_instances_reload(path: Path) -> None:
    """Running instances check the keyring file at most once per reload interval: wait that
    long after its last change, so none of them still seals under the old primary while the
    records are walked (a value sealed meanwhile is caught by the next run anyway)."""
    import time

    from tether.crypto import DEFAULT_RELOAD_INTERVAL_SECONDS

    settle = DEFAULT_RELOAD_INTERVAL_SECONDS + 0.2
    age = time.time() - path.stat().st_mtime
    if 0 <= age < settle:
        time.sleep(settle - age)


def _rotation_summary(report: RotationReport) -> str:
    lines = [f"resealed under key {report.primary_key_id}:"]
    for kind, counts in report.kinds.items():
        lines.append(
            f"  {kind.replace('_', ' '):20} resealed {counts.resealed}, already current "
            f"{counts.already_current}, skipped {counts.skipped}, failed {counts.failed}"
        )
    lines.extend(f"  FAILED {f.kind} {f.id}: {f.code}" for f in report.failures)
    lines.extend(f"  UNREADABLE {record} {rid}: skipped" for record, rid in report.unreadable)
    return "\n".join(lines)


def _cmd_catalog(args: argparse.Namespace) -> int:
    from tether.catalog import load_catalog

    if args.action in ("check", "validate"):
        return _catalog_check([Path(file) for file in args.files])
    catalog = load_catalog()
    for provider in catalog:
        print(f"{provider.key:28} {provider.auth_mode:26} {provider.display_name}")
    return 0


def _catalog_check(files: list[Path]) -> int:
    """Every rule of :mod:`tether.catalog.check`, the sync hooks and the webhook schemes with
    their options, on ``files`` in order (a file in a ``providers`` folder is named as a domain
    file) or else the packaged files and their order."""
    from tether.catalog.check import check_packaged, check_sources
    from tether.catalog.sources import DOMAIN_FOLDER, CatalogSource
    from tether.sync.definitions import catalog_hook_problems
    from tether.webhooks.signatures import scheme_for

    sources = [
        CatalogSource(
            f"{DOMAIN_FOLDER}/{file.name}" if file.parent.name == DOMAIN_FOLDER else file.name,
            file.read_text(encoding="utf-8"),
        )
        for file in files
    ]
    result = check_sources(sources) if sources else check_packaged()
    problems = [str(problem) for problem in result.problems]
    syncs = {}
    for provider in result.providers:
        try:
            syncs[provider.key] = provider.validated_syncs
        except ValueError as exc:
            problems.append(f"{provider.key}: [syncs] {exc}")
    problems.extend(f"[hooks] {problem}" for problem in catalog_hook_problems(syncs))
    for provider in result.providers:
        spec = provider.webhook
        if spec is None:
            continue
        try:
            scheme_for(spec.scheme, spec.options or None)
        except ValueError as exc:
            problems.append(f"{provider.key}: [webhook] {exc}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"catalog check failed: {len(problems)} problems", file=sys.stderr)
        return 1
    print(f"catalog ok: {len(result.providers)} providers in {result.files} files")
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from tether.bundle import build_bundle

    bundle = build_bundle(Path(args.root), Path(args.output))
    print(f"{bundle.path}: {bundle.files} files, sha256 {bundle.sha256}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from tether.import_command import run_import

    return run_import(
        Path(args.export), Path(args.keys_file), data_dir=args.data_dir, dry_run=args.dry_run
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tether", description="Tether connector service")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir", help="local data folder (default: $TETHER_DATA_DIR or ./.tether)"
        )

    dev = sub.add_parser("dev", help="run every function locally on the embedded stack")
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    dev.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8080")),
        help="port to serve every function on (default: $PORT or 8080)",
    )
    dev.add_argument(
        "--source", help="path of functions/main.py (default: the project's, found from here)"
    )
    dev.add_argument(
        "--threads",
        type=_positive_int,
        default=16,
        help="requests served at once, each on a thread of a fixed pool with its own store "
        "connection (default: 16)",
    )
    dev.add_argument(
        "--demo-provider-port",
        type=int,
        default=None,
        help=f"port of the local OAuth provider behind the `demo` catalog entry (default: "
        f"{_DEMO_PORT}, or any free port when that is taken; 0: off)",
    )
    dev.add_argument(
        "--gcp",
        action="store_true",
        help="use Firestore, Secret Manager and Cloud Tasks on their emulators "
        "(those named by *_EMULATOR_HOST, starting any that are not set)",
    )
    dev.add_argument(
        "--simulators",
        action="store_true",
        help="answer Google Calendar, Gmail, Google Drive and HubSpot (OAuth and API) with "
        "local simulators, with an OAuth client configured for each",
    )
    data_dir_arg(dev)
    dev.set_defaults(run=_cmd_dev)

    token = sub.add_parser("token", help="print a dev bearer token")
    token.add_argument("--tenant", help="the tenant id the token carries (e.g. acme)")
    token.add_argument(
        "--tasks", action="store_true", help="print the dev task token for the tasks function"
    )
    token.add_argument("--user", default="dev-user", help="the user id the token carries")
    token.add_argument(
        "--ttl-hours", type=float, default=12.0, help="hours until the token expires (12)"
    )
    data_dir_arg(token)
    token.set_defaults(run=_cmd_token)

    keys = sub.add_parser("keys", help="manage the credential keyring").add_subparsers(
        dest="keys_command", required=True
    )
    gen = keys.add_parser("generate", help="print a new keyring entry (or --add it)")
    gen.add_argument("--id", help="key id (default: k<date><random>)")
    gen.add_argument("--add", action="store_true", help="add it to the keyring file as primary")
    gen.add_argument("--secondary", action="store_true", help="with --add: not as primary")
    data_dir_arg(gen)
    gen.set_defaults(run=_cmd_keys_generate)
    rotate = keys.add_parser(
        "rotate",
        help="re-encrypt everything sealed under an older key (credential payloads, access "
        "tokens, notify secrets, pending OAuth states) under the primary key",
    )
    data_dir_arg(rotate)
    rotate.set_defaults(run=_cmd_keys_rotate)
    retire = keys.add_parser(
        "retire",
        help="remove an old key from the keyring file, once nothing in the store is sealed "
        "under it (after `tether keys rotate`)",
    )
    retire.add_argument("key_id", help="the key id to remove (never the primary)")
    data_dir_arg(retire)
    retire.set_defaults(run=_cmd_keys_retire)

    emulators = sub.add_parser("emulators", help="local GCP emulators").add_subparsers(
        dest="emulators_command", required=True
    )
    start = emulators.add_parser(
        "start", help="run the Firestore, Secret Manager and Cloud Tasks emulators"
    )
    start.add_argument("--host", default="127.0.0.1", help="address to listen on")
    for name, port, what in (
        ("firestore", 8681, "the Firestore emulator"),
        ("secret-manager", 8682, "the Secret Manager emulator (gRPC)"),
        ("tasks", 8683, "the Cloud Tasks emulator (gRPC)"),
        ("tasks-jwks", 8684, "the key set of the Cloud Tasks emulator's OIDC tokens (HTTP)"),
    ):
        start.add_argument(
            f"--{name}-port", type=int, default=port, help=f"port of {what} (0: any free one)"
        )
    start.set_defaults(run=_cmd_emulators_start)

    catalog = sub.add_parser("catalog", help="list or validate the provider catalog")
    catalog.add_argument(
        "action",
        choices=["list", "check", "validate"],
        nargs="?",
        default="list",
        help="list the providers (default), or check every entry offline (validate: the same)",
    )
    catalog.add_argument(
        "files", nargs="*", help="catalog files to check instead of the packaged ones"
    )
    catalog.set_defaults(run=_cmd_catalog)

    package = sub.add_parser(
        "package",
        help="build the deployable source bundle (main.py, pinned requirements.txt, tether/)",
    )
    package.add_argument(
        "--root", default=".", help="the project folder (functions/main.py, requirements.lock)"
    )
    package.add_argument(
        "--output", default="dist/tether-functions.zip", help="the zip to write (replaced)"
    )
    package.set_defaults(run=_cmd_package)

    importer = sub.add_parser(
        "import",
        help="import a Fernet-encrypted credential export (JSON lines: tenant, provider, "
        "display_name, token)",
    )
    importer.add_argument("export", help="the export file (JSON lines)")
    importer.add_argument(
        "--keys-file",
        required=True,
        help="the Fernet keys, one per line, newest first (older ones only decrypt)",
    )
    importer.add_argument(
        "--dry-run", action="store_true", help="decrypt and validate everything, write nothing"
    )
    data_dir_arg(importer)
    importer.set_defaults(run=_cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tether.domain.errors import TetherError

    try:
        return int(args.run(args))
    except TetherError as error:
        print(f"tether: {error.code}: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

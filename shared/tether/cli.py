"""The ``tether`` command: ``dev``, ``token``, ``keys generate|rotate``, ``catalog``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from types import FrameType

__all__ = ["main"]

_DEV_FRONTENDS = "http://localhost:3000,http://localhost:5173,http://127.0.0.1:3000"


def _dev_environment(data_dir: str | None) -> None:
    """``tether dev`` and the dev helpers run the embedded stack in dev mode by default."""
    os.environ.setdefault("TETHER_MODE", "dev")
    os.environ.setdefault("TETHER_AUTH", "dev")
    if data_dir:
        os.environ["TETHER_DATA_DIR"] = data_dir


def _cmd_dev(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    _dev_environment(args.data_dir)
    base_url = f"http://{args.host}:{args.port}"
    os.environ.setdefault("TETHER_PUBLIC_URL", base_url)
    os.environ.setdefault("TETHER_FRONTEND_URL", _DEV_FRONTENDS)

    from tether.logs import configure_logging

    configure_logging()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from tether.api.openapi import openapi_document
    from tether.bootstrap import get_container
    from tether.devserver import build_app, find_functions_source, load_functions

    container = get_container()
    # Build everything up front: a broken keyring or store fails here, not on a request.
    _ = (container.keyring, container.verifier, container.store, container.tasks, container.catalog)
    functions = load_functions(find_functions_source(Path(args.source) if args.source else None))
    app = build_app(functions, openapi=lambda: openapi_document(base_url))
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    data_dir = container.settings.data_dir.resolve()
    print(
        f"tether dev: serving {', '.join('/' + n + '/' for n in functions)} on {base_url}\n"
        f"  data:    {data_dir} (SQLite store, AES-GCM secrets, local task queue)\n"
        f"  openapi: {base_url}/openapi.json\n"
        f"  token:   tether token --tenant acme",
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


def _cmd_token(args: argparse.Namespace) -> int:
    _dev_environment(args.data_dir)
    from tether.api.auth import issue_dev_token
    from tether.bootstrap import Container

    container = Container()
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

    container = Container(Settings.from_env(task_worker=False))
    try:
        report = container.key_rotation.rotate()
    finally:
        container.close()
    print(json.dumps({"primary_key_id": container.sealer.primary_key_id, **report.as_dict()}))
    return 1 if report.failed else 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from tether.catalog import load_catalog

    catalog = load_catalog()
    if args.action == "validate":
        print(f"catalog ok: {len(catalog)} providers")
        return 0
    for provider in catalog:
        print(f"{provider.key:28} {provider.auth_mode:26} {provider.display_name}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tether", description="Tether connector service")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir", help="local data folder (default: $TETHER_DATA_DIR or ./.tether)"
        )

    dev = sub.add_parser("dev", help="run every function locally on the embedded stack")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    dev.add_argument("--source", help="path of functions/main.py")
    data_dir_arg(dev)
    dev.set_defaults(run=_cmd_dev)

    token = sub.add_parser("token", help="print a dev bearer token")
    token.add_argument("--tenant", required=True)
    token.add_argument("--user", default="dev-user")
    token.add_argument("--ttl-hours", type=float, default=12.0)
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
    rotate = keys.add_parser("rotate", help="re-encrypt every credential under the primary key")
    data_dir_arg(rotate)
    rotate.set_defaults(run=_cmd_keys_rotate)

    catalog = sub.add_parser("catalog", help="list or validate the provider catalog")
    catalog.add_argument("action", choices=["list", "validate"], nargs="?", default="list")
    catalog.set_defaults(run=_cmd_catalog)
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

"""``tether import``: a Fernet-encrypted credential export (JSON lines) into this
deployment's store, with the settings of any other command (``TETHER_*``; the embedded stack
in ``./.tether`` by default). See :mod:`tether.connections.fernet_import` for the format and
the phases.

The Fernet keys are read from a file (one per line, newest first), never from the command
line, where they would stay in shell history and process listings. ``--dry-run`` decrypts
and validates everything and writes nothing. Prints the report as JSON on stdout and
imported / invalid / failed counts on stderr; exits 1 when anything was invalid or failed,
2 when the keys cannot open every token (then nothing was written).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tether.connections.service import ConnectionService

__all__ = ["run_import"]


def _keys(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _imported_refs(service: ConnectionService, tenant: str) -> set[str]:
    from tether.connections.commands import ListConnections
    from tether.connections.fernet_import import IMPORT_REF_KEY, IMPORT_USER
    from tether.domain.models import Principal

    principal = Principal(tenant_id=tenant, user_id=IMPORT_USER)
    refs: set[str] = set()
    cursor: str | None = None
    while True:
        page = service.list_connections(principal, ListConnections(limit=200, cursor=cursor))
        refs.update(
            str(c.metadata[IMPORT_REF_KEY]) for c in page.items if IMPORT_REF_KEY in c.metadata
        )
        if page.next_cursor is None:
            return refs
        cursor = page.next_cursor


def run_import(export: Path, keys_file: Path, *, data_dir: str | None, dry_run: bool) -> int:
    os.environ.setdefault("TETHER_MODE", "dev")
    os.environ.setdefault("TETHER_AUTH", "dev")
    if data_dir:
        os.environ["TETHER_DATA_DIR"] = data_dir
    from tether.bootstrap import Container
    from tether.config import Settings
    from tether.connections.fernet_import import ImportRefused, import_fernet_export

    container = Container(Settings.from_env(task_worker=False))
    try:
        service = container.connections
        with export.open(encoding="utf-8") as lines:
            try:
                report = import_fernet_export(
                    lines,
                    _keys(keys_file),
                    validate=service.check_new,
                    imported_refs=lambda tenant: _imported_refs(service, tenant),
                    create=None if dry_run else service.create,
                )
            except ImportRefused as refused:
                print(f"tether import: {refused.message}", file=sys.stderr)
                return 2
    finally:
        container.close()
    print(json.dumps(report.as_dict()))
    verb = "would import" if dry_run else "imported"
    print(
        f"{verb} {report.imported}, already imported {report.already_imported}, "
        f"invalid {report.invalid}, failed {report.failed}",
        file=sys.stderr,
    )
    return 1 if report.invalid or report.failed else 0

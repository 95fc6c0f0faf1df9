"""``tether keys generate --add`` and ``tether keys retire`` for a keyring kept in Secret
Manager (``TETHER_KEYRING_SECRET``) or AWS Secrets Manager (``TETHER_KEYRING_AWS_SECRET``):
each writes a new version of the secret; running instances pick it up within
``TETHER_KEYRING_REFRESH_SECONDS`` (and at once when they meet an envelope under a key they
lack). ``tether keys rotate`` needs nothing of its own: it reads the keyring through the
same source as the instances.

Only key ids and counts are printed, never key material.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from tether.crypto.remote_keyring_source import RemoteKeyringSource
from tether.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from tether.bootstrap import Container

__all__ = ["add_key", "retire_key", "retirement_refusal"]


def _container(data_dir: str | None) -> tuple[Container, RemoteKeyringSource]:
    os.environ.setdefault("TETHER_MODE", "dev")
    os.environ.setdefault("TETHER_AUTH", "dev")
    if data_dir:
        os.environ["TETHER_DATA_DIR"] = data_dir
    from tether.bootstrap import Container
    from tether.config import Settings

    container = Container(Settings.from_env(task_worker=False))
    source = container.keyring_source
    if not isinstance(source, RemoteKeyringSource):
        container.close()
        raise ConfigurationError("the keyring is not kept in a secret manager")
    return container, source


def add_key(data_dir: str | None, key_id: str, key: bytes, *, primary: bool) -> int:
    container, source = _container(data_dir)
    try:
        current = source.reload()
        source.save(current.with_key(key_id, key, primary=primary))
    finally:
        container.close()
    role = "primary" if primary else "secondary"
    print(
        f"added key {key_id} as {role} to {source.origin.name} (a new version); "
        "run `tether keys rotate` to re-encrypt"
    )
    return 0


def retirement_refusal(usage: dict[str, dict[str, int]], key_id: str) -> str | None:
    """Why ``key_id`` cannot leave the keyring yet, from the store's ``key_usage()`` (whatever
    holds the keyring: this module's secret, or the keyring file), or ``None`` when nothing
    in the store is sealed under it. Counts only, never what is sealed."""
    from tether.connections.key_rotation import UNREADABLE_RECORDS

    unreadable = usage.get(UNREADABLE_RECORDS, {})
    if unreadable:
        counted = ", ".join(f"{n} {record.replace('_', ' ')}" for record, n in unreadable.items())
        return (
            f"cannot tell what {counted} record(s) seal: they cannot be read; delete them "
            "(`tether keys rotate` names them) before retiring a key"
        )
    still = {
        kind: counts[key_id]
        for kind, counts in usage.items()
        if kind != UNREADABLE_RECORDS and key_id in counts
    }
    if still:
        counted = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in still.items())
        return f"key {key_id} still seals {counted}; run `tether keys rotate` first"
    return None


def retire_key(data_dir: str | None, key_id: str) -> int:
    container, source = _container(data_dir)
    try:
        current = source.reload()
        remaining = current.without_key(key_id)  # refuses the primary or an unknown id
        refusal = retirement_refusal(container.key_rotation.key_usage(), key_id)
        if refusal is not None:
            print(refusal, file=sys.stderr)
            return 1
        source.save(remaining)
    finally:
        container.close()
    print(
        f"removed key {key_id} from {source.origin.name} (a new version): nothing in the "
        "store is sealed under it"
    )
    return 0

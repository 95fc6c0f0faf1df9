"""Where one instance's own secrets come from, by configuration: its keyring, the secret of
``TETHER_AUTH=dev`` tokens, and the task token of ``tether dev``.

The rule is the same for all three: a value set in the environment wins; otherwise only
``tether dev`` (``TETHER_MODE=dev``) may make one up, and keeps it in its data folder so the
next run (and ``tether token``, ``tether keys``) finds the same one. Anywhere else a missing
secret is a :class:`~tether.domain.errors.ConfigurationError` at startup, never a secret
invented on the spot.
"""

from __future__ import annotations

import logging
import secrets

from tether.config import Settings
from tether.crypto.keyring import Keyring, load_keyring_file, save_keyring_file
from tether.crypto.keyring_source import FileKeyringSource, KeyringSource, StaticKeyringSource
from tether.domain.errors import ConfigurationError

__all__ = ["dev_jwt_secret", "keyring_source_for", "task_token"]

log = logging.getLogger("tether.crypto")


def keyring_source_for(settings: Settings) -> KeyringSource:
    """``TETHER_KEYRING`` (fixed for the process), else the keyring file, re-read when it
    changes so ``tether keys generate --add`` and ``tether keys rotate`` need no restart.
    Under ``tether dev`` a missing file at the default place is generated."""
    if settings.keyring is not None:
        return StaticKeyringSource(Keyring.from_json(settings.keyring.get_secret_value()))
    path = settings.default_keyring_file
    if load_keyring_file(path) is None:
        if settings.mode != "dev" or settings.keyring_file is not None:
            raise ConfigurationError(
                "no keyring found: set TETHER_KEYRING or TETHER_KEYRING_FILE "
                "(`tether keys generate` prints one)"
            )
        save_keyring_file(path, Keyring.generate())
        log.warning(
            "generated a new development keyring at %s; keep it to keep reading "
            "stored credentials (never use it outside `tether dev`)",
            path,
        )
    return FileKeyringSource(path)


def dev_jwt_secret(settings: Settings) -> str:
    """The HS256 secret of ``TETHER_AUTH=dev`` bearer tokens (``tether token`` signs with it)."""
    if settings.dev_jwt_secret is not None:
        return settings.dev_jwt_secret.get_secret_value()
    if settings.mode != "dev":
        raise ConfigurationError("TETHER_DEV_JWT_SECRET is required for TETHER_AUTH=dev")
    return _dev_secret_file(settings, "dev_jwt_secret", "a development JWT secret")


def task_token(settings: Settings) -> str:
    """The shared secret ``tether dev`` callers of the ``tasks`` function present."""
    if settings.task_token is not None:
        return settings.task_token.get_secret_value()
    if settings.mode != "dev":
        raise ConfigurationError("TETHER_TASK_TOKEN is only generated under `tether dev`")
    return _dev_secret_file(settings, "task_token", "a development task token")


def _dev_secret_file(settings: Settings, name: str, what: str) -> str:
    """The secret kept in ``$DATA_DIR/<name>`` (owner-only), made on first use. Callers
    serialize calls within an instance (the composition root builds each part once)."""
    path = settings.data_dir / name
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    log.warning("generated %s at %s", what, path)
    return value

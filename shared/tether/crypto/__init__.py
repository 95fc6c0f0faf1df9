"""Credential crypto: keyring (and the sources a running instance reloads it from), per-tenant
HKDF keys and AES-256-GCM envelopes.

Built on ``cryptography`` (``AESGCM``, ``HKDF``); nothing here implements a primitive itself.
See :mod:`tether.crypto.envelope` for the envelope format and its error codes.

The envelope and tenant-key names are loaded on first use (PEP 562): every instance parses its
keyring at start (:mod:`tether.crypto.keyring`, no ``cryptography``), but only a function that
seals or opens a credential needs AES-GCM and HKDF; the public catalog never loads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.crypto.keyring import (
    KEY_SIZE,
    Keyring,
    is_valid_key_id,
    load_keyring_file,
    new_key_entry,
    save_keyring_file,
)
from tether.crypto.keyring_source import (
    DEFAULT_RELOAD_INTERVAL_SECONDS,
    FileKeyringSource,
    KeyringSource,
    StaticKeyringSource,
)
from tether.lazy import lazy_names

if TYPE_CHECKING:
    from tether.crypto.envelope import ENVELOPE_VERSION, Sealer
    from tether.crypto.tenant_keys import TenantKeyCache, derive_tenant_key, hkdf_sha256

__all__ = [
    "DEFAULT_RELOAD_INTERVAL_SECONDS",
    "ENVELOPE_VERSION",
    "KEY_SIZE",
    "FileKeyringSource",
    "Keyring",
    "KeyringSource",
    "Sealer",
    "StaticKeyringSource",
    "TenantKeyCache",
    "derive_tenant_key",
    "hkdf_sha256",
    "is_valid_key_id",
    "load_keyring_file",
    "new_key_entry",
    "save_keyring_file",
]

_HOME = {
    "ENVELOPE_VERSION": "tether.crypto.envelope",
    "Sealer": "tether.crypto.envelope",
    "TenantKeyCache": "tether.crypto.tenant_keys",
    "derive_tenant_key": "tether.crypto.tenant_keys",
    "hkdf_sha256": "tether.crypto.tenant_keys",
}


__getattr__ = lazy_names(__name__, _HOME)

"""Credential crypto: keyring (and the sources a running instance reloads it from), per-tenant
HKDF keys and AES-256-GCM envelopes.

Built on ``cryptography`` (``AESGCM``, ``HKDF``); nothing here implements a primitive itself.
See :mod:`tether.crypto.envelope` for the envelope format and its error codes.
"""

from tether.crypto.envelope import ENVELOPE_VERSION, Sealer
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

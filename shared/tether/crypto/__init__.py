"""Credential crypto: keyring, per-tenant HKDF keys and AES-256-GCM envelopes.

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
from tether.crypto.tenant_keys import TenantKeyCache, derive_tenant_key, hkdf_sha256

__all__ = [
    "ENVELOPE_VERSION",
    "KEY_SIZE",
    "Keyring",
    "Sealer",
    "TenantKeyCache",
    "derive_tenant_key",
    "hkdf_sha256",
    "is_valid_key_id",
    "load_keyring_file",
    "new_key_entry",
    "save_keyring_file",
]

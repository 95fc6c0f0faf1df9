"""Per-tenant data keys, derived from the keyring's master keys with HKDF-SHA256 (RFC 5869).

Why derive rather than encrypt everything under the master key directly:

* **Nonce budget.** Envelopes use random 96-bit GCM nonces, for which NIST SP 800-38D §8.3
  caps a single key at 2^32 encryptions. Each tenant gets its own key, so the budget is per
  tenant per master key instead of shared by the whole deployment; rotating the master key
  resets every tenant's count.
* **Separation.** A ciphertext copied to another tenant is encrypted under a different key, on
  top of the AAD binding in :mod:`tether.crypto.envelope`.

Derivation (fixed; changing it makes every stored envelope unreadable, so it is versioned)::

    tenant_key = HKDF-SHA256(IKM=master_key, salt=b"tether/tenant-key/v1",
                             info=b"tenant:" + utf8(tenant_id), L=32)

HKDF comes from ``cryptography``; :func:`hkdf_sha256` is the one call site, and the RFC 5869
Appendix A vectors are run through it in the tests. ``cryptography`` is imported when the
first key is derived, not with this module: a function builds its sealer with its secret
store, but only one that seals or opens something pays for the library (~7 ms of a cold
start).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from tether.crypto.keyring import KEY_SIZE, Keyring
from tether.domain.errors import CryptoError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "TENANT_KEY_INFO_PREFIX",
    "TENANT_KEY_SALT",
    "TenantKeyCache",
    "derive_tenant_key",
    "hkdf_sha256",
]

TENANT_KEY_SALT = b"tether/tenant-key/v1"
TENANT_KEY_INFO_PREFIX = b"tenant:"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF (extract then expand) with SHA-256."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive_tenant_key(master_key: bytes, tenant_id: str) -> bytes:
    """The 32-byte AES-256 key for ``tenant_id`` under ``master_key``. Pure."""
    if len(master_key) != KEY_SIZE:
        raise CryptoError(f"master key must be {KEY_SIZE} bytes", code="INVALID_KEY")
    if not isinstance(tenant_id, str) or not tenant_id:
        raise CryptoError("tenant id must be a non-empty string", code="INVALID_BINDING")
    info = TENANT_KEY_INFO_PREFIX + tenant_id.encode("utf-8")
    return hkdf_sha256(master_key, TENANT_KEY_SALT, info, KEY_SIZE)


class TenantKeyCache:
    """Bounded, thread-safe LRU of derived tenant keys over one immutable :class:`Keyring`.

    Sealing or rotating many records of one tenant derives its key once. Entries are keyed by
    ``(key_id, tenant_id)``; ids are unique within a keyring, so no entry can go stale.
    """

    def __init__(self, keyring: Keyring, *, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._keyring = keyring
        self._maxsize = maxsize
        # The derived key and its AES-GCM cipher object (whose key schedule is then reused).
        self._entries: OrderedDict[tuple[str, str], tuple[bytes, AESGCM]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def tenant_key(self, key_id: str, tenant_id: str) -> bytes:
        """The derived key; :class:`CryptoError` ``UNKNOWN_KEY_ID`` if the keyring lacks it."""
        return self._entry(key_id, tenant_id)[0]

    def cipher(self, key_id: str, tenant_id: str) -> AESGCM:
        """An AES-256-GCM cipher under the derived key (cached with it)."""
        return self._entry(key_id, tenant_id)[1]

    def _entry(self, key_id: str, tenant_id: str) -> tuple[bytes, AESGCM]:
        slot = (key_id, tenant_id)
        with self._lock:
            cached = self._entries.get(slot)
            if cached is not None:
                self._entries.move_to_end(slot)
                return cached
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        derived = derive_tenant_key(self._keyring.get(key_id), tenant_id)
        entry = (derived, AESGCM(derived))
        with self._lock:
            self._entries[slot] = entry
            self._entries.move_to_end(slot)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return entry

    def primary(self, tenant_id: str) -> tuple[str, bytes]:
        """``(primary key id, derived key)`` for sealing."""
        key_id = self._keyring.primary
        return key_id, self.tenant_key(key_id, tenant_id)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __repr__(self) -> str:
        return f"TenantKeyCache(keyring={self._keyring!r}, size={len(self)}/{self._maxsize})"

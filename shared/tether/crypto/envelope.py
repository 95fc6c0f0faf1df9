"""Sealed envelopes: AES-256-GCM under a per-tenant key, bound to where the ciphertext lives.

Text format (ASCII; safe in JSON, SQLite and Firestore strings)::

    tg1.<key_id>.<nonce>.<ciphertext||tag>

``tg1`` is the format version; ``key_id`` names the keyring master key; nonce and ciphertext are
base64url without padding. The cipher is AES-256-GCM (NIST SP 800-38D) with a fresh random
96-bit nonce per seal and a 128-bit tag. The AES key is the tenant's HKDF-derived key
(:func:`tether.crypto.tenant_keys.derive_tenant_key`), so each tenant has its own key.

Nonce budget: with random 96-bit nonces SP 800-38D §8.3 allows at most 2^32 encryptions per key
before the chance of a repeated nonce (which leaks the XOR of two plaintexts and the GHASH key)
stops being negligible. That bound applies per derived tenant key; rotate master keys long
before any single tenant approaches it.

The additional authenticated data binds the format version, key id, tenant id, record id and
purpose. Each field is encoded as a 4-byte big-endian length followed by its UTF-8 bytes, so
no two different field tuples share an encoding (``("a|b", "c")`` differs from ``("a", "b|c")``).
An envelope copied to another tenant, record or purpose therefore fails authentication.

Errors are :class:`~tether.domain.errors.CryptoError` with ``code``:

* ``MALFORMED_CIPHERTEXT`` -- not a well-formed ``tg1`` envelope;
* ``UNKNOWN_KEY_ID`` -- the keyring lacks the envelope's key;
* ``DECRYPTION_FAILED`` -- authentication failed (tampering, wrong tenant/record/purpose/key);
* ``INVALID_BINDING`` -- an empty or non-string tenant id, record id or purpose;
* ``INVALID_PLAINTEXT`` -- :meth:`Sealer.seal_json` given a payload JSON cannot encode.

Messages never contain plaintext or key material, and underlying exceptions are suppressed
(``from None``).

``cryptography`` is imported when a key is first derived (:mod:`tether.crypto.tenant_keys`),
so building a :class:`Sealer` costs nothing until it seals or opens.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tether.crypto.keyring import KEY_ID_PATTERN, Keyring
from tether.crypto.keyring_source import KeyringSource, StaticKeyringSource
from tether.crypto.tenant_keys import TenantKeyCache
from tether.domain.errors import CryptoError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["ENVELOPE_VERSION", "NONCE_SIZE", "TAG_SIZE", "Sealer", "envelope_aad"]

ENVELOPE_VERSION = "tg1"
NONCE_SIZE = 12
TAG_SIZE = 16

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)


# -- pure primitives ------------------------------------------------------------------------
def _gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-GCM encryption; returns ciphertext followed by the 16-byte tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return _encrypt_with(AESGCM(key), nonce, plaintext, aad)


def _gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`_gcm_encrypt`; ``DECRYPTION_FAILED`` if the tag does not verify."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return _decrypt_with(AESGCM(key), nonce, data, aad)


def _encrypt_with(cipher: AESGCM, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return cipher.encrypt(nonce, plaintext, aad)


def _invalid_tag() -> type[Exception]:
    """``cryptography``'s failed-tag error, looked up only when a decryption fails (a cipher
    exists by then, so the library is loaded)."""
    from cryptography.exceptions import InvalidTag

    return InvalidTag


def _decrypt_with(cipher: AESGCM, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    try:
        return cipher.decrypt(nonce, data, aad)
    except _invalid_tag():
        raise CryptoError(
            "credential could not be decrypted (tampered, or bound to another record)",
            code="DECRYPTION_FAILED",
        ) from None


def envelope_aad(
    *, version: str, key_id: str, tenant_id: str, record_id: str, purpose: str
) -> bytes:
    """The length-prefixed AAD binding an envelope to its version, key and location."""
    out = bytearray()
    for field in (version, key_id, tenant_id, record_id, purpose):
        encoded = field.encode("utf-8")
        out += len(encoded).to_bytes(4, "big")
        out += encoded
    return bytes(out)


@lru_cache(maxsize=4096)
def _cached_aad(key_id: str, tenant_id: str, record_id: str, purpose: str) -> bytes:
    return envelope_aad(
        version=ENVELOPE_VERSION,
        key_id=key_id,
        tenant_id=tenant_id,
        record_id=record_id,
        purpose=purpose,
    )


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    """Strict: canonical unpadded base64url only (the regex already limited the alphabet)."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _malformed() from None
    if _b64url_encode(raw) != text:
        raise _malformed()
    return raw


def _malformed() -> CryptoError:
    return CryptoError("credential envelope is malformed", code="MALFORMED_CIPHERTEXT")


def _parse(envelope: object) -> tuple[str, bytes, bytes]:
    """``(key_id, nonce, ciphertext||tag)`` of a well-formed envelope."""
    if not isinstance(envelope, str):
        raise _malformed()
    parts = envelope.split(".")
    if (
        len(parts) != 4
        or parts[0] != ENVELOPE_VERSION
        or _KEY_ID_RE.fullmatch(parts[1]) is None
        or _B64URL_RE.fullmatch(parts[2]) is None
        or _B64URL_RE.fullmatch(parts[3]) is None
    ):
        raise _malformed()
    nonce = _b64url_decode(parts[2])
    body = _b64url_decode(parts[3])
    if len(nonce) != NONCE_SIZE or len(body) < TAG_SIZE:
        raise _malformed()
    return parts[1], nonce, body


def _check_binding(tenant_id: str, record_id: str, purpose: str) -> None:
    for value in (tenant_id, record_id, purpose):
        if not isinstance(value, str) or not value:
            raise CryptoError(
                "tenant id, record id and purpose must be non-empty strings",
                code="INVALID_BINDING",
            )


# -- the sealer -----------------------------------------------------------------------------
class _Keys:
    """One keyring and the tenant keys derived from it (replaced together when it changes)."""

    __slots__ = ("keyring", "tenant_keys")

    def __init__(self, keyring: Keyring, cache_size: int) -> None:
        self.keyring = keyring
        self.tenant_keys = TenantKeyCache(keyring, maxsize=cache_size)


class Sealer:
    """Seals and opens credential envelopes with the keyring of a source. Thread-safe.

    Given a :class:`Keyring`, that keyring is used for good; given a
    :class:`~tether.crypto.keyring_source.KeyringSource`, every seal uses the source's current
    primary, and an envelope naming a key id the current keyring lacks makes the source reload
    once before it fails with ``UNKNOWN_KEY_ID`` (another process rotated keys meanwhile).
    """

    def __init__(self, keyring: Keyring | KeyringSource, *, cache_size: int = 1024) -> None:
        self._source: KeyringSource = (
            StaticKeyringSource(keyring) if isinstance(keyring, Keyring) else keyring
        )
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._keys = _Keys(self._source.current(), cache_size)

    def _current(self, keyring: Keyring | None = None) -> _Keys:
        """The derived-key cache of ``keyring`` (default: the source's current one)."""
        wanted = self._source.current() if keyring is None else keyring
        keys = self._keys
        if keys.keyring is not wanted:
            with self._lock:
                if self._keys.keyring is not wanted:
                    self._keys = _Keys(wanted, self._cache_size)
                keys = self._keys
        return keys

    def _keys_for(self, key_id: str) -> _Keys:
        """Keys that include ``key_id`` if the source has it, reloading the source once."""
        keys = self._current()
        if key_id in keys.keyring:
            return keys
        return self._current(self._source.reload())

    @property
    def keyring(self) -> Keyring:
        return self._current().keyring

    @property
    def primary_key_id(self) -> str:
        """The key id new envelopes are sealed under."""
        return self._current().keyring.primary

    def seal(self, plaintext: bytes, *, tenant_id: str, record_id: str, purpose: str) -> str:
        """Encrypt under the primary key's derived tenant key with a fresh random nonce."""
        _check_binding(tenant_id, record_id, purpose)
        keys = self._current()
        key_id = keys.keyring.primary
        cipher = keys.tenant_keys.cipher(key_id, tenant_id)
        nonce = os.urandom(NONCE_SIZE)
        aad = _cached_aad(key_id, tenant_id, record_id, purpose)
        body = _encrypt_with(cipher, nonce, bytes(plaintext), aad)
        return f"{ENVELOPE_VERSION}.{key_id}.{_b64url_encode(nonce)}.{_b64url_encode(body)}"

    def open(self, envelope: str, *, tenant_id: str, record_id: str, purpose: str) -> bytes:
        """Decrypt an envelope sealed for exactly this tenant, record and purpose."""
        _check_binding(tenant_id, record_id, purpose)
        key_id, nonce, body = _parse(envelope)
        cipher = self._keys_for(key_id).tenant_keys.cipher(key_id, tenant_id)
        aad = _cached_aad(key_id, tenant_id, record_id, purpose)
        return _decrypt_with(cipher, nonce, body, aad)

    @staticmethod
    def key_id_of(envelope: str) -> str:
        """The key id an envelope was sealed under. Parses only; decrypts nothing."""
        key_id, _, _ = _parse(envelope)
        return key_id

    def needs_rotation(self, envelope: str) -> bool:
        """True if the envelope is not sealed under the keyring's primary key."""
        return self.key_id_of(envelope) != self.primary_key_id

    def reseal(self, envelope: str, *, tenant_id: str, record_id: str, purpose: str) -> str:
        """Open and seal again under the primary key (with a new nonce)."""
        plaintext = self.open(envelope, tenant_id=tenant_id, record_id=record_id, purpose=purpose)
        return self.seal(plaintext, tenant_id=tenant_id, record_id=record_id, purpose=purpose)

    def seal_json(
        self, payload: Mapping[str, Any], *, tenant_id: str, record_id: str, purpose: str
    ) -> str:
        """:meth:`seal` of compact UTF-8 JSON."""
        try:
            text = json.dumps(
                dict(payload), separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError):
            raise CryptoError(
                "credential payload is not JSON-serialisable", code="INVALID_PLAINTEXT"
            ) from None
        return self.seal(
            text.encode("utf-8"), tenant_id=tenant_id, record_id=record_id, purpose=purpose
        )

    def open_json(
        self, envelope: str, *, tenant_id: str, record_id: str, purpose: str
    ) -> dict[str, Any]:
        """:meth:`open` of an envelope made by :meth:`seal_json`."""
        plaintext = self.open(envelope, tenant_id=tenant_id, record_id=record_id, purpose=purpose)
        try:
            payload: Any = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            payload = None
        if not isinstance(payload, dict):
            raise CryptoError(
                "credential envelope does not hold a JSON object", code="MALFORMED_CIPHERTEXT"
            )
        return payload

    def __repr__(self) -> str:
        return f"Sealer(keyring={self.keyring!r})"

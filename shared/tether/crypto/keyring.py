"""The keyring: every master key Tether can decrypt with, and the one it encrypts with.

Rotation is additive. A new key is added as primary; envelopes sealed under older keys still
open because their key id is looked up here, and ``tether keys rotate`` re-seals them under the
primary. An old key is removed only once nothing refers to it.

The JSON form is what operators keep in a secret or a ``0600`` file::

    {"primary": "k1", "keys": {"k1": "<base64 or base64url of 32 random bytes>"}}

Validation errors name the problem and, at most, a well-formed key id. They never quote a key
value, nor an ill-formed id (which could be a key pasted into the wrong field), nor the JSON
text, and they are raised ``from None`` so no parser exception carrying the text is chained.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tether.domain.errors import ConfigurationError, CryptoError

__all__ = [
    "KEY_ID_PATTERN",
    "KEY_SIZE",
    "Keyring",
    "is_valid_key_id",
    "load_keyring_file",
    "new_key_entry",
    "save_keyring_file",
]

KEY_SIZE = 32
"""Bytes per master key: AES-256 / HKDF-SHA256 input keying material."""

KEY_ID_PATTERN = r"[A-Za-z0-9_-]{1,32}"
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)
_B64_RE = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def is_valid_key_id(key_id: object) -> bool:
    """True if ``key_id`` is usable as a key id (and so also safe to echo in a message)."""
    return isinstance(key_id, str) and _KEY_ID_RE.fullmatch(key_id) is not None


def _default_key_id() -> str:
    return f"k{datetime.now(UTC):%Y%m%d}{secrets.token_hex(2)}"


def new_key_entry(key_id: str | None = None) -> tuple[str, bytes]:
    """A fresh ``(key_id, key)``: 32 bytes from the OS CSPRNG, id ``kYYYYMMDDxxxx`` by default."""
    chosen = _default_key_id() if key_id is None else key_id
    _check_key_id(chosen)
    return chosen, secrets.token_bytes(KEY_SIZE)


def _check_key_id(key_id: object) -> None:
    if not is_valid_key_id(key_id):
        raise ConfigurationError(
            "keyring: a key id must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'"
        )


def _check_key(key_id: str, key: object) -> bytes:
    if not isinstance(key, bytes | bytearray | memoryview):
        raise ConfigurationError(f"keyring: key {key_id!r} must be bytes")
    raw = bytes(key)
    if len(raw) != KEY_SIZE:
        raise ConfigurationError(
            f"keyring: key {key_id!r} must be {KEY_SIZE} bytes, got {len(raw)}"
        )
    return raw


def _decode_key_text(key_id: str, text: object) -> bytes:
    """Standard base64 or base64url, padding optional."""
    if not isinstance(text, str):
        raise ConfigurationError(f"keyring: key {key_id!r} must be a base64 string")
    compact = "".join(text.split())
    if _B64_RE.fullmatch(compact) is None:
        raise ConfigurationError(f"keyring: key {key_id!r} is not valid base64")
    normalised = compact.rstrip("=").replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        raw = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"keyring: key {key_id!r} is not valid base64") from None
    return _check_key(key_id, raw)


@dataclass(frozen=True, repr=False)
class Keyring:
    """Immutable set of 32-byte master keys by id, one of them ``primary``.

    ``keys`` is a read-only mapping; every change returns a new keyring.
    """

    keys: Mapping[str, bytes]
    primary: str

    def __post_init__(self) -> None:
        if not isinstance(self.keys, Mapping) or not self.keys:
            raise ConfigurationError("keyring: at least one key is required")
        checked: dict[str, bytes] = {}
        for key_id, key in self.keys.items():
            _check_key_id(key_id)
            checked[key_id] = _check_key(key_id, key)
        _check_key_id(self.primary)
        if self.primary not in checked:
            raise ConfigurationError(f"keyring: primary key {self.primary!r} is not in the keyring")
        object.__setattr__(self, "keys", MappingProxyType(checked))

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def generate(cls, key_id: str | None = None) -> Keyring:
        """A new keyring holding one fresh random key, which is primary."""
        new_id, key = new_key_entry(key_id)
        return cls(keys={new_id: key}, primary=new_id)

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        """Parse ``{"primary": id, "keys": {id: base64, ...}}``; other top-level fields are
        ignored. Any problem is a :class:`ConfigurationError`."""
        try:
            doc: Any = json.loads(text)
        except (ValueError, TypeError):
            raise ConfigurationError("keyring: not valid JSON") from None
        if not isinstance(doc, dict):
            raise ConfigurationError("keyring: expected a JSON object")
        primary = doc.get("primary")
        if primary is None:
            raise ConfigurationError("keyring: 'primary' is missing")
        if not isinstance(primary, str):
            raise ConfigurationError("keyring: 'primary' must be a string")
        entries = doc.get("keys")
        if not isinstance(entries, dict) or not entries:
            raise ConfigurationError("keyring: 'keys' must be a non-empty object")
        keys: dict[str, bytes] = {}
        for key_id, value in entries.items():
            _check_key_id(key_id)
            keys[key_id] = _decode_key_text(key_id, value)
        return cls(keys=keys, primary=primary)

    new_key_entry = staticmethod(new_key_entry)

    # -- derivation of new keyrings -------------------------------------------------------
    def with_key(self, key_id: str, key: bytes, *, primary: bool = True) -> Keyring:
        """This keyring plus ``key_id``; it becomes primary unless ``primary=False``."""
        _check_key_id(key_id)
        if key_id in self.keys:
            raise ConfigurationError(f"keyring: key id {key_id!r} already exists")
        keys = {**self.keys, key_id: _check_key(key_id, key)}
        return Keyring(keys=keys, primary=key_id if primary else self.primary)

    def with_primary(self, key_id: str) -> Keyring:
        """This keyring with an existing key made primary."""
        if key_id not in self.keys:
            _check_key_id(key_id)
            raise ConfigurationError(f"keyring: key id {key_id!r} is not in the keyring")
        return Keyring(keys=self.keys, primary=key_id)

    def without_key(self, key_id: str) -> Keyring:
        """This keyring minus a retired, non-primary key."""
        if key_id not in self.keys:
            _check_key_id(key_id)
            raise ConfigurationError(f"keyring: key id {key_id!r} is not in the keyring")
        if key_id == self.primary:
            raise ConfigurationError("keyring: the primary key cannot be removed")
        return Keyring(
            keys={k: v for k, v in self.keys.items() if k != key_id}, primary=self.primary
        )

    # -- access ---------------------------------------------------------------------------
    @property
    def primary_key(self) -> tuple[str, bytes]:
        return self.primary, self.keys[self.primary]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self.keys))

    def get(self, key_id: str) -> bytes:
        """The key for ``key_id``; :class:`CryptoError` ``UNKNOWN_KEY_ID`` if absent."""
        key = self.keys.get(key_id)
        if key is None:
            shown = f" {key_id!r}" if is_valid_key_id(key_id) else ""
            raise CryptoError(f"unknown key id{shown}", code="UNKNOWN_KEY_ID")
        return key

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.keys

    # -- serialisation --------------------------------------------------------------------
    def to_json(self) -> str:
        """Standard base64 keys, sorted, indented: the form :meth:`from_json` reads."""
        doc = {
            "primary": self.primary,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()},
        }
        return json.dumps(doc, sort_keys=True, indent=2)

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, key_ids={list(self.key_ids)!r})"

    def __hash__(self) -> int:
        return hash((self.primary, frozenset(self.keys.items())))


def load_keyring_file(path: Path) -> Keyring | None:
    """The keyring stored at ``path``, or ``None`` if there is no such file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise ConfigurationError("keyring: file is not UTF-8 text") from None
    return Keyring.from_json(text)


def save_keyring_file(path: Path, keyring: Keyring) -> None:
    """Write ``keyring`` to ``path`` atomically with mode ``0600``.

    The text goes to a ``0600`` temporary file in the same directory, is flushed to disk, then
    ``os.replace`` swaps it in, so a reader sees the old keyring or the new one, never a torn
    write. A missing parent directory is created ``0700``.
    """
    target = Path(path)
    parent = target.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    import tempfile  # only on writes; keeps it off the cold-start path

    fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.chmod(tmp_name, 0o600)
            handle.write(keyring.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable on POSIX; directories cannot be opened this way on Windows.
    if os.name != "posix":
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

"""Where a running instance gets its keyring from, and how it notices a new one.

A :class:`~tether.crypto.keyring.Keyring` is immutable; a *source* hands out the current one.
``tether keys generate --add`` and ``tether keys rotate`` run as other processes while
instances serve requests, so an instance must pick up a changed keyring without a restart:
otherwise it keeps sealing under the old primary and answers ``UNKNOWN_KEY_ID`` for every
envelope rotation resealed under the new one.

Two ways in, both cheap:

* :meth:`KeyringSource.current` may re-check its origin, at most once per ``interval``
  (a ``stat`` of the file: inode, size and modification time), so a new primary is used for
  sealing within a second of being written;
* :meth:`KeyringSource.reload` re-checks now, ignoring the interval. The
  :class:`~tether.crypto.envelope.Sealer` calls it when an envelope names a key id the current
  keyring lacks (another process already sealed under a key this one has not seen yet), then
  retries once, then fails with ``UNKNOWN_KEY_ID``.

Sources:

* :class:`StaticKeyringSource`: a keyring fixed for the life of the process
  (``TETHER_KEYRING`` from the environment, tests);
* :class:`FileKeyringSource`: a JSON file (``TETHER_KEYRING_FILE``, in development
  ``$DATA_DIR/keyring.json``), which ``save_keyring_file`` replaces atomically.

A keyring kept in a secret manager (Secret Manager, AWS Secrets Manager) has the same two
methods in :class:`~tether.crypto.remote_keyring_source.RemoteKeyringSource`: ``current``
re-reads the current version when a TTL has passed, ``reload`` fetches it at once (throttled,
since it is a billed call).

A changed origin that cannot be read (removed, malformed) keeps the keys loaded before and logs
a warning once per change: an instance never loses its keys to a half-done edit. Log lines and
errors name key ids and counts only, never key material.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from tether.crypto.keyring import Keyring
from tether.domain.errors import ConfigurationError

__all__ = [
    "DEFAULT_RELOAD_INTERVAL_SECONDS",
    "FileKeyringSource",
    "KeyringSource",
    "PolledKeyringSource",
    "StaticKeyringSource",
]

log = logging.getLogger("tether.keyring")

DEFAULT_RELOAD_INTERVAL_SECONDS = 1.0
"""How stale :meth:`FileKeyringSource.current` may be: one ``stat`` per second at most."""

# What identifies one version of the file: a rename-over (atomic save) changes the inode, an
# edit in place the size or the modification time.
_Stamp = tuple[int, int, int, int]


@runtime_checkable
class KeyringSource(Protocol):
    """Hands out the current keyring. Thread-safe; both calls are cheap when nothing changed."""

    def current(self) -> Keyring:
        """The keyring to use now (re-checked at the source's own pace)."""
        ...

    def reload(self) -> Keyring:
        """Check the origin now and return the keyring it holds (or the one held before, if
        the origin cannot be read)."""
        ...


class StaticKeyringSource:
    """A keyring fixed for the life of the process."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def current(self) -> Keyring:
        return self._keyring

    def reload(self) -> Keyring:
        return self._keyring

    def __repr__(self) -> str:
        return f"StaticKeyringSource({self._keyring!r})"


class PolledKeyringSource(ABC):
    """What the file and the remote source share: :meth:`current` re-checks the origin at
    most once per ``interval``, double-checked under the lock so that the requests arriving
    together after the interval make one check, not one each. A subclass implements
    :meth:`_check` (called under the lock; it restarts the interval)."""

    def __init__(
        self, keyring: Keyring, *, interval: float, monotonic: Callable[[], float]
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keyring = keyring
        self._checked_at = monotonic()

    @property
    def interval(self) -> float:
        return self._interval

    def current(self) -> Keyring:
        if self._monotonic() - self._checked_at < self._interval:
            return self._keyring
        with self._lock:
            if self._monotonic() - self._checked_at >= self._interval:
                self._check()
            return self._keyring

    @abstractmethod
    def _check(self) -> None:
        """Look at the origin and adopt a changed keyring (under the lock)."""


def _stamp(stat: os.stat_result) -> _Stamp:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class FileKeyringSource(PolledKeyringSource):
    """The keyring in a JSON file, re-read when the file changes.

    The file must exist (the container creates it in development). ``monotonic`` is
    injectable for tests.
    """

    def __init__(
        self,
        path: Path,
        *,
        interval: float = DEFAULT_RELOAD_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0:
            raise ValueError("interval must not be negative")
        self._path = Path(path)
        loaded = self._read()
        if loaded is None:
            raise ConfigurationError("keyring: the keyring file does not exist")
        keyring, stamp = loaded
        self._stamp: _Stamp | None = stamp
        super().__init__(keyring, interval=interval, monotonic=monotonic)

    @property
    def path(self) -> Path:
        return self._path

    def reload(self) -> Keyring:
        with self._lock:
            self._check()
            return self._keyring

    # -- under the lock -----------------------------------------------------------------------
    def _check(self) -> None:
        self._checked_at = self._monotonic()
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            if stamp is None and self._stamp is not None:
                log.warning(
                    "the keyring file %s cannot be found; keeping the %d keys loaded before",
                    self._path,
                    len(self._keyring.keys),
                )
                self._stamp = None
            return
        try:
            loaded = self._read()
        except (ConfigurationError, OSError) as exc:
            # A ConfigurationError names the problem and at most a key id (see
            # tether.crypto.keyring); an OSError says why the file could not be opened.
            reason = exc.message if isinstance(exc, ConfigurationError) else exc.strerror
            log.warning(
                "the keyring file %s changed but cannot be used (%s); keeping the keys "
                "loaded before",
                self._path,
                reason,
            )
            self._stamp = stamp  # warn once per change, not once per check
            return
        if loaded is None:
            return
        keyring, self._stamp = loaded
        if keyring == self._keyring:
            return  # same keys (touched, or rewritten identically): keep caches warm
        previous = self._keyring
        self._keyring = keyring
        log.info(
            "keyring reloaded: primary %s (was %s), keys %s",
            keyring.primary,
            previous.primary,
            ", ".join(keyring.key_ids),
        )

    def _stat(self) -> _Stamp | None:
        try:
            return _stamp(os.stat(self._path))
        except OSError:
            return None  # gone (or unreadable): keep what was loaded

    def _read(self) -> tuple[Keyring, _Stamp] | None:
        """The keyring in the file and the stamp of exactly the bytes read."""
        try:
            handle = open(self._path, "rb")  # noqa: SIM115 - closed below, fstat needs the fd
        except FileNotFoundError:
            return None
        with handle:
            stamp = _stamp(os.fstat(handle.fileno()))
            raw = handle.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError("keyring: file is not UTF-8 text") from None
        return Keyring.from_json(text), stamp

    def __repr__(self) -> str:
        return f"FileKeyringSource({str(self._path)!r}, {self._keyring!r})"

"""A keyring kept in a secret manager (Google Secret Manager, AWS Secrets Manager), re-read
at a steady pace, so a new version (a new primary from ``tether keys generate --add``, or a
key removed by ``tether keys retire``) reaches running instances without a restart.

Same contract as :class:`~tether.crypto.keyring_source.FileKeyringSource`:

* :meth:`RemoteKeyringSource.current` re-fetches when ``interval`` has passed since the last
  fetch (one billed call per instance per interval, not per request);
* :meth:`RemoteKeyringSource.reload` fetches now, but at most once per
  ``min_reload_interval``: the sealer calls it on every envelope naming an unknown key id,
  and a flood of those must not turn into a flood of billed calls;
* a fetch that fails or returns something unusable keeps the keys loaded before and logs a
  warning naming the origin and the reason, never key material;
* the first fetch must succeed: an instance does not start without its keys.

Where the keyring is fetched from, and how a new version is written, is the ``origin`` an
adapter hands in (``tether.adapters.secret_manager.keyring``,
``tether.adapters.aws_secrets.keyring``): this module does no I/O of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from tether.crypto.keyring import Keyring
from tether.crypto.keyring_source import PolledKeyringSource
from tether.domain.errors import ConfigurationError, TetherError

__all__ = ["KeyringOrigin", "RemoteKeyringSource"]

log = logging.getLogger("tether.keyring")


class KeyringOrigin(Protocol):
    """A secret holding the keyring's JSON text (``Keyring.to_json``)."""

    @property
    def name(self) -> str:
        """What to call it in logs and errors (a secret name, never a value)."""
        ...

    def read(self) -> str:
        """The current version's text. A failure is a :class:`TetherError`."""
        ...

    def write(self, text: str) -> None:
        """Store ``text`` as the new current version."""
        ...


class RemoteKeyringSource(PolledKeyringSource):
    def __init__(
        self,
        origin: KeyringOrigin,
        *,
        interval: float = 60.0,
        min_reload_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0 or min_reload_interval < 0:
            raise ValueError("intervals must not be negative")
        self._origin = origin
        self._min_reload = min_reload_interval
        super().__init__(self._fetch(), interval=interval, monotonic=monotonic)

    @property
    def origin(self) -> KeyringOrigin:
        return self._origin

    def reload(self) -> Keyring:
        with self._lock:
            if self._monotonic() - self._checked_at >= self._min_reload:
                self._check()
            return self._keyring

    def save(self, keyring: Keyring) -> None:
        """Write ``keyring`` as the origin's new version and use it here at once."""
        with self._lock:
            self._origin.write(keyring.to_json())
            self._keyring = keyring
            self._checked_at = self._monotonic()

    # -- under the lock (or in __init__) ----------------------------------------------------
    def _fetch(self) -> Keyring:
        text = self._origin.read()
        return Keyring.from_json(text)

    def _check(self) -> None:
        self._checked_at = self._monotonic()
        try:
            keyring = self._fetch()
        except TetherError as exc:
            # ConfigurationError from parsing names at most a key id; an origin's error
            # names the secret and the failure.
            reason = exc.message if isinstance(exc, ConfigurationError) else exc.code
            log.warning(
                "the keyring in %s cannot be used (%s); keeping the %d keys loaded before",
                self._origin.name,
                reason,
                len(self._keyring.keys),
            )
            return
        if keyring == self._keyring:
            return
        previous = self._keyring
        self._keyring = keyring
        log.info(
            "keyring reloaded from %s: primary %s (was %s), keys %s",
            self._origin.name,
            keyring.primary,
            previous.primary,
            ", ".join(keyring.key_ids),
        )

    def __repr__(self) -> str:
        return f"RemoteKeyringSource({self._origin.name!r}, {self._keyring!r})"

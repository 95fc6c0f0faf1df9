"""Keyring sources: a running instance picks up a changed keyring file without a restart."""

from __future__ import annotations

import base64
import logging
import threading
from pathlib import Path

import pytest

from tether.crypto import (
    FileKeyringSource,
    Keyring,
    Sealer,
    StaticKeyringSource,
    new_key_entry,
    save_keyring_file,
)
from tether.domain.errors import ConfigurationError, CryptoError

BIND = {"tenant_id": "acme", "record_id": "conn_1", "purpose": "credentials"}


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "keyring.json"
    save_keyring_file(target, Keyring.generate("k1"))
    return target


def _add_primary(path: Path, key_id: str) -> Keyring:
    current = FileKeyringSource(path).current()
    _, key = new_key_entry(key_id)
    added = current.with_key(key_id, key)
    save_keyring_file(path, added)
    return added


def test_static_source_never_changes() -> None:
    ring = Keyring.generate("k1")
    source = StaticKeyringSource(ring)
    assert source.current() is ring and source.reload() is ring


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FileKeyringSource(tmp_path / "absent.json")


def test_a_new_primary_is_seen_after_the_interval_not_before(path: Path) -> None:
    ticks = Ticks()
    source = FileKeyringSource(path, interval=1.0, monotonic=ticks)
    assert source.current().primary == "k1"
    _add_primary(path, "k2")
    ticks.now += 0.5
    assert source.current().primary == "k1"  # checked at most once per interval
    ticks.now += 0.6
    assert source.current().primary == "k2"
    assert source.current().key_ids == ("k1", "k2")


def test_reload_checks_at_once(path: Path) -> None:
    source = FileKeyringSource(path, interval=3600, monotonic=Ticks())
    _add_primary(path, "k2")
    assert source.current().primary == "k1"
    assert source.reload().primary == "k2"
    assert source.current().primary == "k2"


def test_an_unchanged_or_identically_rewritten_file_keeps_the_same_keyring(path: Path) -> None:
    ticks = Ticks()
    source = FileKeyringSource(path, interval=1.0, monotonic=ticks)
    first = source.current()
    ticks.now += 5
    assert source.current() is first
    save_keyring_file(path, first)  # a new inode, the same keys
    assert source.reload() is first


def test_a_broken_or_removed_file_keeps_the_keys_and_says_so_without_key_material(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tether.keyring")
    source = FileKeyringSource(path, interval=0, monotonic=Ticks())
    ring = source.current()
    key_b64 = base64.b64encode(ring.keys["k1"]).decode()

    path.write_text('{"primary": "k1", "keys": {"k1": "' + key_b64[:-4] + '"}}')
    assert source.reload() is ring
    assert source.reload() is ring
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per change, not once per check
    assert "cannot be used" in warnings[0].getMessage()

    path.unlink()
    assert source.reload() is ring
    assert "cannot be found" in caplog.records[-1].getMessage()

    save_keyring_file(path, ring.with_key(*new_key_entry("k2")))
    assert source.reload().primary == "k2"
    assert "keyring reloaded: primary k2 (was k1)" in caplog.records[-1].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert key_b64 not in logged and key_b64[:-4] not in logged


def test_sealer_seals_under_the_new_primary_once_the_source_sees_it(path: Path) -> None:
    ticks = Ticks()
    sealer = Sealer(FileKeyringSource(path, interval=1.0, monotonic=ticks))
    before = sealer.seal(b"secret", **BIND)
    _add_primary(path, "k2")
    ticks.now += 1.5
    after = sealer.seal(b"secret", **BIND)
    assert (Sealer.key_id_of(before), Sealer.key_id_of(after)) == ("k1", "k2")
    assert sealer.primary_key_id == "k2" and not sealer.needs_rotation(after)
    assert sealer.open(before, **BIND) == sealer.open(after, **BIND) == b"secret"


def test_an_unknown_key_id_reloads_once_then_opens(path: Path) -> None:
    """Another process (``tether keys rotate``) resealed under a key this instance has not
    loaded yet: the first read that meets it reloads, however long the interval."""
    running = Sealer(FileKeyringSource(path, interval=3600, monotonic=Ticks()))
    added = _add_primary(path, "k2")
    resealed_elsewhere = Sealer(added).seal(b"secret", **BIND)
    assert running.open(resealed_elsewhere, **BIND) == b"secret"
    assert running.primary_key_id == "k2"


def test_a_key_id_no_source_has_is_unknown_after_one_reload(path: Path) -> None:
    running = Sealer(FileKeyringSource(path, interval=3600, monotonic=Ticks()))
    foreign = Sealer(Keyring.generate("kforeign")).seal(b"secret", **BIND)
    with pytest.raises(CryptoError) as caught:
        running.open(foreign, **BIND)
    assert caught.value.code == "UNKNOWN_KEY_ID"


def test_a_key_id_reused_with_other_bytes_never_opens_with_cached_tenant_keys(
    path: Path,
) -> None:
    """Derived tenant keys are cached per keyring: a reloaded keyring gets its own cache."""
    sealer = Sealer(FileKeyringSource(path, interval=0, monotonic=Ticks()))
    old = sealer.seal(b"secret", **BIND)
    save_keyring_file(path, Keyring.generate("k1"))  # same id, new bytes
    with pytest.raises(CryptoError) as caught:
        sealer.open(old, **BIND)
    assert caught.value.code == "DECRYPTION_FAILED"


def test_concurrent_seals_and_opens_while_keys_rotate(path: Path) -> None:
    sealer = Sealer(FileKeyringSource(path, interval=0))
    errors: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        try:
            while not stop.is_set():
                envelope = sealer.seal(b"payload", **BIND)
                assert sealer.open(envelope, **BIND) == b"payload"
        except (AssertionError, CryptoError) as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(2, 12):
            _add_primary(path, f"k{n}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert sealer.primary_key_id == "k11"

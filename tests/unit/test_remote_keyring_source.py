"""RemoteKeyringSource with an origin that records what it was asked: re-fetched at its own
pace, reloads throttled, a bad version never replaces good keys, saves used at once."""

from __future__ import annotations

import json
import logging

import pytest

from tether.crypto import Keyring, new_key_entry
from tether.crypto.remote_keyring_source import RemoteKeyringSource
from tether.domain.errors import BackendUnavailable, ConfigurationError


class RecordingOrigin:
    name = "projects/p/secrets/tetherapp-keyring/versions/latest"

    def __init__(self, text: str) -> None:
        self.versions = [text]
        self.reads = 0
        self.failing = False

    def read(self) -> str:
        self.reads += 1
        if self.failing:
            raise BackendUnavailable("down", code="KEYRING_UNAVAILABLE")
        return self.versions[-1]

    def write(self, text: str) -> None:
        self.versions.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_refetches_after_the_interval_and_throttles_reloads() -> None:
    ring = Keyring.generate("k1")
    origin, clock = RecordingOrigin(ring.to_json()), Clock()
    source = RemoteKeyringSource(origin, interval=60, min_reload_interval=5, monotonic=clock)
    assert source.current() == ring and origin.reads == 1
    newer = ring.with_key(*new_key_entry("k2"))
    origin.write(newer.to_json())
    clock.now += 30
    assert source.current() == ring and origin.reads == 1  # within the interval: cached
    assert source.reload() == newer and origin.reads == 2  # an unknown key id: fetch now
    origin.write(Keyring.generate("k3").to_json())
    clock.now += 1
    assert source.reload() == newer and origin.reads == 2  # throttled
    clock.now += 60
    assert source.current().primary == "k3" and origin.reads == 3


def test_a_failing_or_malformed_origin_keeps_the_keys(caplog: pytest.LogCaptureFixture) -> None:
    ring = Keyring.generate("k1")
    origin, clock = RecordingOrigin(ring.to_json()), Clock()
    source = RemoteKeyringSource(origin, interval=1, min_reload_interval=0, monotonic=clock)
    origin.failing = True
    clock.now += 2
    with caplog.at_level(logging.WARNING, logger="tether.keyring"):
        assert source.current() == ring
    origin.failing = False
    origin.write('{"primary": "missing", "keys": {}}')
    with caplog.at_level(logging.WARNING, logger="tether.keyring"):
        assert source.reload() == ring
    assert "KEYRING_UNAVAILABLE" in caplog.text and "keeping the 1 keys" in caplog.text
    for material in json.loads(ring.to_json())["keys"].values():
        assert material not in caplog.text


def test_the_first_fetch_must_succeed() -> None:
    origin = RecordingOrigin("not json")
    with pytest.raises(ConfigurationError):
        RemoteKeyringSource(origin)
    origin.failing = True
    with pytest.raises(BackendUnavailable):
        RemoteKeyringSource(origin)


def test_save_writes_a_version_and_uses_it_at_once() -> None:
    ring = Keyring.generate("k1")
    origin = RecordingOrigin(ring.to_json())
    source = RemoteKeyringSource(origin, interval=3600)
    newer = ring.with_key(*new_key_entry("k2"))
    source.save(newer)
    assert source.current() == newer
    assert Keyring.from_json(origin.versions[-1]) == newer

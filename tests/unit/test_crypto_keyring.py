from __future__ import annotations

import base64
import json
import os
import re
import stat
import sys
from datetime import UTC, datetime

import pytest

from tether.crypto import (
    Keyring,
    is_valid_key_id,
    load_keyring_file,
    new_key_entry,
    save_keyring_file,
)
from tether.domain.errors import ConfigurationError, CryptoError

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
K1_B64 = base64.b64encode(K1).decode()
K1_B64URL = base64.urlsafe_b64encode(K1).decode().rstrip("=")
GENERATED_ID = re.compile(r"k\d{8}[0-9a-f]{4}")


def _doc(**overrides) -> str:
    doc = {"primary": "k1", "keys": {"k1": K1_B64}}
    doc.update(overrides)
    return json.dumps(doc)


# -- JSON ---------------------------------------------------------------------------------------
def test_json_round_trip():
    ring = Keyring(keys={"k1": K1, "k2": K2}, primary="k2")
    text = ring.to_json()
    again = Keyring.from_json(text)
    assert again == ring
    assert again.primary == "k2"
    assert dict(again.keys) == {"k1": K1, "k2": K2}
    assert json.loads(text) == {
        "primary": "k2",
        "keys": {"k1": K1_B64, "k2": base64.b64encode(K2).decode()},
    }
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2)


def test_from_json_accepts_base64url_with_or_without_padding():
    padded = base64.urlsafe_b64encode(K2).decode()
    for text in (K1_B64URL, padded):
        doc = json.dumps({"primary": "k1", "keys": {"k1": text}})
        expected = K1 if text == K1_B64URL else K2
        assert Keyring.from_json(doc).get("k1") == expected


def test_from_json_accepts_url_alphabet_characters():
    key = bytes([0xFB, 0xFF, 0xBF] * 10 + [0, 1])  # encodes to '+' and '/' in standard base64
    std = base64.b64encode(key).decode()
    url = base64.urlsafe_b64encode(key).decode()
    assert "+" in std
    assert "/" in std
    for text in (std, url):
        doc = json.dumps({"primary": "k1", "keys": {"k1": text}})
        assert Keyring.from_json(doc).get("k1") == key


def test_from_json_ignores_extra_fields():
    assert Keyring.from_json(_doc(comment="rotated 2026-01")).primary == "k1"


SHORT_KEY_B64 = base64.b64encode(b"sixteen-byte-key").decode()
LONG_KEY_B64 = base64.b64encode(K1 + b"!").decode()

INVALID_DOCUMENTS = {
    "not json": f'{{"primary": "k1", "keys": {{"k1": "{K1_B64}"',
    "not an object": json.dumps([K1_B64]),
    "missing primary": json.dumps({"keys": {"k1": K1_B64}}),
    "primary not a string": _doc(primary=1),
    "primary not in keys": _doc(primary="k2"),
    "primary is key material": _doc(primary=K1_B64),
    "missing keys": json.dumps({"primary": "k1"}),
    "empty keys": _doc(keys={}),
    "keys not an object": _doc(keys=[K1_B64]),
    "short key": _doc(keys={"k1": SHORT_KEY_B64}),
    "long key": _doc(keys={"k1": LONG_KEY_B64}),
    "bad base64": _doc(keys={"k1": K1_B64[:-2] + "!!"}),
    "impossible base64 length": _doc(keys={"k1": K1_B64.rstrip("=") + "A"}),
    "key not a string": _doc(keys={"k1": list(K1)}),
    "bad id": _doc(primary="bad id", keys={"bad id": K1_B64}),
    "id too long": _doc(primary="k" * 33, keys={"k" * 33: K1_B64}),
    "key swapped into the id": _doc(primary="k1", keys={"k1": K1_B64, K1_B64: "k2"}),
}


@pytest.mark.parametrize("text", INVALID_DOCUMENTS.values(), ids=INVALID_DOCUMENTS.keys())
def test_invalid_documents_are_refused_without_echoing_key_material(text):
    with pytest.raises(ConfigurationError) as err:
        Keyring.from_json(text)
    exc = err.value
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None
    for rendered in (str(exc), repr(exc), str(exc.to_dict())):
        for secret in (K1_B64, K1_B64.rstrip("="), K1_B64URL, SHORT_KEY_B64, LONG_KEY_B64):
            assert secret not in rendered
        assert K1.hex() not in rendered
        assert "sixteen-byte-key" not in rendered


# -- construction -------------------------------------------------------------------------------
def test_keyring_is_immutable():
    ring = Keyring(keys={"k1": K1}, primary="k1")
    with pytest.raises(AttributeError):
        ring.primary = "k2"
    with pytest.raises(TypeError):
        ring.keys["k2"] = K2


def test_keyring_copies_its_input():
    source = {"k1": K1}
    ring = Keyring(keys=source, primary="k1")
    source["k2"] = K2
    assert "k2" not in ring


@pytest.mark.parametrize(
    ("keys", "primary"),
    [
        ({}, "k1"),
        ({"k1": K1}, "k2"),
        ({"k1": K1[:31]}, "k1"),
        ({"k1": "not bytes"}, "k1"),
        ({"k/1": K1}, "k/1"),
        ({"": K1}, ""),
    ],
)
def test_constructor_validates(keys, primary):
    with pytest.raises(ConfigurationError):
        Keyring(keys=keys, primary=primary)


def test_generate():
    ring = Keyring.generate()
    key_id, key = ring.primary_key
    assert GENERATED_ID.fullmatch(key_id)
    assert key_id[1:9] in {
        datetime.now(UTC).strftime("%Y%m%d"),
        # the test may straddle midnight UTC
        datetime.fromtimestamp(datetime.now(UTC).timestamp() - 5, UTC).strftime("%Y%m%d"),
    }
    assert is_valid_key_id(key_id)
    assert len(key) == 32
    assert list(ring.keys) == [key_id]
    assert Keyring.generate().primary_key[1] != key


def test_generate_with_id():
    ring = Keyring.generate("prod-2026_a")
    assert ring.primary == "prod-2026_a"
    with pytest.raises(ConfigurationError):
        Keyring.generate("not valid!")


def test_new_key_entry():
    ids = set()
    for _ in range(20):
        key_id, key = new_key_entry()
        assert GENERATED_ID.fullmatch(key_id)
        assert len(key) == 32
        ids.add(key_id)
    assert len(ids) > 1
    assert new_key_entry("k2")[0] == "k2"
    assert Keyring.new_key_entry("k3")[0] == "k3"


def test_with_key_and_primary():
    ring = Keyring(keys={"k1": K1}, primary="k1")
    rotated = ring.with_key("k2", K2)
    assert rotated.primary_key == ("k2", K2)
    assert rotated.get("k1") == K1
    assert ring.primary == "k1"
    assert "k2" not in ring

    standby = ring.with_key("k2", K2, primary=False)
    assert standby.primary == "k1"
    assert standby.with_primary("k2").primary == "k2"

    with pytest.raises(ConfigurationError) as err:
        ring.with_key("k1", K2)
    assert K2.hex() not in str(err.value)
    with pytest.raises(ConfigurationError):
        ring.with_key("k2", K2[:16])
    with pytest.raises(ConfigurationError):
        ring.with_key("bad id", K2)
    with pytest.raises(ConfigurationError):
        ring.with_primary("k9")


def test_without_key():
    ring = Keyring(keys={"k1": K1, "k2": K2}, primary="k2")
    assert ring.without_key("k1").key_ids == ("k2",)
    with pytest.raises(ConfigurationError):
        ring.without_key("k2")
    with pytest.raises(ConfigurationError):
        ring.without_key("k9")


def test_get_unknown_key_id():
    ring = Keyring(keys={"k1": K1}, primary="k1")
    with pytest.raises(CryptoError) as err:
        ring.get("k2")
    assert err.value.code == "UNKNOWN_KEY_ID"
    with pytest.raises(CryptoError) as err:
        ring.get(K1_B64)
    assert K1_B64 not in str(err.value)


def test_repr_hides_key_material():
    ring = Keyring(keys={"k1": K1, "k2": K2}, primary="k2")
    text = repr(ring)
    assert "k1" in text
    assert "k2" in text
    for secret in (K1, K2):
        assert repr(secret) not in text
        assert secret.hex() not in text
        assert base64.b64encode(secret).decode() not in text
    assert str(ring) == text


# -- files --------------------------------------------------------------------------------------
def test_load_missing_file(tmp_path):
    assert load_keyring_file(tmp_path / "absent.json") is None


def test_save_and_load(tmp_path):
    ring = Keyring(keys={"k1": K1, "k2": K2}, primary="k1")
    path = tmp_path / "keyring.json"
    save_keyring_file(path, ring)
    assert load_keyring_file(path) == ring
    assert path.read_text().endswith("\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_is_private_and_parents_created(tmp_path):
    path = tmp_path / "new" / "dir" / "keyring.json"
    old_umask = os.umask(0)
    try:
        save_keyring_file(path, Keyring(keys={"k1": K1}, primary="k1"))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_save_over_world_readable_file_leaves_it_private(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_keyring_file(path, Keyring(keys={"k1": K1}, primary="k1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_is_atomic_replace(tmp_path):
    path = tmp_path / "keyring.json"
    first = Keyring(keys={"k1": K1}, primary="k1")
    save_keyring_file(path, first)
    inode_before = path.stat().st_ino
    second = first.with_key("k2", K2)
    save_keyring_file(path, second)
    assert load_keyring_file(path) == second
    assert path.stat().st_ino != inode_before  # a new file was renamed into place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]  # no temp left


def test_failed_save_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "keyring.json"
    first = Keyring(keys={"k1": K1}, primary="k1")
    save_keyring_file(path, first)

    class Exploding(Keyring):
        def to_json(self) -> str:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_keyring_file(path, Exploding(keys={"k2": K2}, primary="k2"))
    assert load_keyring_file(path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json"]


def test_load_corrupt_file_is_configuration_error(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ConfigurationError):
        load_keyring_file(path)
    path.write_text("{")
    with pytest.raises(ConfigurationError):
        load_keyring_file(path)

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest

from tether.crypto import ENVELOPE_VERSION, Keyring, Sealer, TenantKeyCache
from tether.crypto.envelope import envelope_aad
from tether.domain.errors import CryptoError

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
SECRET = b"sk_live_51HxQeKXa9ZzP0verySecretValue4242"
BINDING = {"tenant_id": "tenant_a", "record_id": "conn_1", "purpose": "credentials"}


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(keys={"k1": K1}, primary="k1")


@pytest.fixture
def sealer(keyring: Keyring) -> Sealer:
    return Sealer(keyring)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _code(excinfo: pytest.ExceptionInfo[CryptoError]) -> str:
    return excinfo.value.code


# -- round trip and format ----------------------------------------------------------------------
def test_round_trip(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    assert sealer.open(envelope, **BINDING) == SECRET


def test_round_trip_empty_plaintext(sealer):
    envelope = sealer.seal(b"", **BINDING)
    assert sealer.open(envelope, **BINDING) == b""


def test_envelope_format(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    assert envelope.isascii()
    version, key_id, nonce, body = envelope.split(".")
    assert version == ENVELOPE_VERSION == "tg1"
    assert key_id == "k1"
    assert "=" not in nonce + body
    assert len(_unb64(nonce)) == 12
    assert len(_unb64(body)) == len(SECRET) + 16
    assert Sealer.key_id_of(envelope) == "k1"


def test_nonce_differs_across_seals_of_same_plaintext(sealer):
    envelopes = {sealer.seal(SECRET, **BINDING) for _ in range(50)}
    nonces = {e.split(".")[2] for e in envelopes}
    assert len(envelopes) == 50
    assert len(nonces) == 50


def test_plaintext_never_appears_in_envelope(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    assert SECRET.decode() not in envelope
    assert _b64(SECRET) not in envelope
    assert base64.b64encode(SECRET).decode() not in envelope
    assert SECRET not in _unb64(envelope.split(".")[3])


# -- authentication -----------------------------------------------------------------------------
def _flip(text: str, index: int) -> str:
    raw = bytearray(_unb64(text))
    raw[index] ^= 0x01
    return _b64(bytes(raw))


@pytest.mark.parametrize(
    ("part", "size"), [(2, 12), (3, None)], ids=["nonce", "ciphertext-and-tag"]
)
def test_tampering_any_byte_fails(sealer, part, size):
    """Each byte of the nonce (12 of them) and of the ciphertext with its tag, flipped."""
    parts = sealer.seal(SECRET, **BINDING).split(".")
    for index in range(size or len(_unb64(parts[part]))):
        tampered = [*parts[:part], _flip(parts[part], index), *parts[part + 1 :]]
        with pytest.raises(CryptoError) as err:
            sealer.open(".".join(tampered), **BINDING)
        assert _code(err) == "DECRYPTION_FAILED"


def test_truncated_ciphertext_fails(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    version, key_id, nonce, body = envelope.split(".")
    shorter = _b64(_unb64(body)[:-1])
    with pytest.raises(CryptoError) as err:
        sealer.open(f"{version}.{key_id}.{nonce}.{shorter}", **BINDING)
    assert _code(err) == "DECRYPTION_FAILED"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tenant_id", "tenant_b"),
        ("record_id", "conn_2"),
        ("purpose", "access_token"),
    ],
)
def test_wrong_binding_fails(sealer, field, value):
    envelope = sealer.seal(SECRET, **BINDING)
    with pytest.raises(CryptoError) as err:
        sealer.open(envelope, **{**BINDING, field: value})
    assert _code(err) == "DECRYPTION_FAILED"


def test_wrong_key_under_same_id_fails(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    impostor = Sealer(Keyring(keys={"k1": K2}, primary="k1"))
    with pytest.raises(CryptoError) as err:
        impostor.open(envelope, **BINDING)
    assert _code(err) == "DECRYPTION_FAILED"


def test_relabelled_key_id_fails(sealer):
    # Same key material under two ids: the key id is in the AAD, so relabelling is caught.
    both = Sealer(Keyring(keys={"k1": K1, "k1b": K1}, primary="k1"))
    envelope = both.seal(SECRET, **BINDING)
    relabelled = envelope.replace("tg1.k1.", "tg1.k1b.", 1)
    with pytest.raises(CryptoError) as err:
        both.open(relabelled, **BINDING)
    assert _code(err) == "DECRYPTION_FAILED"


def test_aad_is_unambiguous():
    def aad(tenant, record):
        return envelope_aad(
            version="tg1", key_id="k1", tenant_id=tenant, record_id=record, purpose="p"
        )

    assert aad("a|b", "c") != aad("a", "b|c")
    assert aad("ab", "c") != aad("a", "bc")
    assert aad("a\x00\x00\x00\x01b", "c") != aad("a", "b")


def test_fields_that_concatenate_equal_do_not_open(sealer):
    envelope = sealer.seal(SECRET, tenant_id="a|b", record_id="c", purpose="p")
    with pytest.raises(CryptoError) as err:
        sealer.open(envelope, tenant_id="a", record_id="b|c", purpose="p")
    assert _code(err) == "DECRYPTION_FAILED"


def test_decryption_error_leaks_nothing(sealer):
    envelope = sealer.seal(SECRET, **BINDING)
    with pytest.raises(CryptoError) as err:
        sealer.open(envelope, **{**BINDING, "tenant_id": "tenant_b"})
    exc = err.value
    for text in (str(exc), repr(exc), exc.message, str(exc.to_dict())):
        assert SECRET.decode() not in text
        assert K1.hex() not in text
        assert envelope not in text
    assert exc.__cause__ is None
    assert exc.__suppress_context__ is True


# -- key ids ------------------------------------------------------------------------------------
def test_unknown_key_id(sealer):
    other = Sealer(Keyring(keys={"k9": K2}, primary="k9"))
    envelope = other.seal(SECRET, **BINDING)
    with pytest.raises(CryptoError) as err:
        sealer.open(envelope, **BINDING)
    assert _code(err) == "UNKNOWN_KEY_ID"


# -- malformed ----------------------------------------------------------------------------------
def _valid_parts(sealer):
    return sealer.seal(SECRET, **BINDING).split(".")


def _malformed_cases(sealer):
    version, key_id, nonce, body = _valid_parts(sealer)
    short_nonce = _b64(_unb64(nonce)[:8])
    long_nonce = _b64(_unb64(nonce) + b"\x00")
    return {
        "empty": "",
        "wrong prefix": f"tg2.{key_id}.{nonce}.{body}",
        "no prefix": f"{key_id}.{nonce}.{body}",
        "upper prefix": f"TG1.{key_id}.{nonce}.{body}",
        "too few parts": f"{version}.{key_id}.{nonce}",
        "too many parts": f"{version}.{key_id}.{nonce}.{body}.x",
        "empty body": f"{version}.{key_id}.{nonce}.",
        "bad base64 nonce": f"{version}.{key_id}.{nonce[:-1]}!.{body}",
        "bad base64 body": f"{version}.{key_id}.{nonce}.{body[:-1]}*",
        "padded body": f"{version}.{key_id}.{nonce}.{body}==",
        "standard alphabet": f"{version}.{key_id}.{nonce}.{body[:-1]}+",
        "impossible length": f"{version}.{key_id}.{nonce}.{body[: len(body) // 4 * 4]}A",
        "short nonce": f"{version}.{key_id}.{short_nonce}.{body}",
        "long nonce": f"{version}.{key_id}.{long_nonce}.{body}",
        "body shorter than tag": f"{version}.{key_id}.{nonce}.{_b64(bytes(15))}",
        "bad key id": f"{version}.k 1.{nonce}.{body}",
        "empty key id": f"{version}..{nonce}.{body}",
        "whitespace": f" {version}.{key_id}.{nonce}.{body}",
        "trailing newline": f"{version}.{key_id}.{nonce}.{body}\n",
    }


def test_malformed_envelopes(sealer):
    for name, envelope in _malformed_cases(sealer).items():
        for call in (
            lambda e=envelope: sealer.open(e, **BINDING),
            lambda e=envelope: Sealer.key_id_of(e),
            lambda e=envelope: sealer.needs_rotation(e),
        ):
            with pytest.raises(CryptoError) as err:
                call()
            assert _code(err) == "MALFORMED_CIPHERTEXT", name


def test_non_canonical_base64_is_malformed(sealer):
    envelope = sealer.seal(b"x", **BINDING)  # 17-byte body: its last character has spare bits
    version, key_id, nonce, body = envelope.split(".")
    assert len(_unb64(body)) % 3 != 0
    # Set an unused low bit in the last character: decodes to the same bytes, not canonical.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(body[-1]) | 1]
    assert last != body[-1]
    with pytest.raises(CryptoError) as err:
        sealer.open(f"{version}.{key_id}.{nonce}.{body[:-1]}{last}", **BINDING)
    assert _code(err) == "MALFORMED_CIPHERTEXT"


def test_non_string_envelope_is_malformed(sealer):
    with pytest.raises(CryptoError) as err:
        sealer.open(b"tg1.k1.AAAA.AAAA", **BINDING)
    assert _code(err) == "MALFORMED_CIPHERTEXT"


@pytest.mark.parametrize("field", ["tenant_id", "record_id", "purpose"])
def test_empty_binding_is_refused(sealer, field):
    with pytest.raises(CryptoError) as err:
        sealer.seal(SECRET, **{**BINDING, field: ""})
    assert _code(err) == "INVALID_BINDING"


# -- rotation -----------------------------------------------------------------------------------
def test_rotation(keyring):
    old = Sealer(keyring)
    envelope = old.seal(SECRET, **BINDING)
    rotated = Sealer(keyring.with_key("k2", K2))
    assert rotated.keyring.primary == "k2"
    assert rotated.primary_key_id == "k2"
    assert rotated.open(envelope, **BINDING) == SECRET
    assert rotated.needs_rotation(envelope) is True
    assert old.needs_rotation(envelope) is False

    resealed = rotated.reseal(envelope, **BINDING)
    assert Sealer.key_id_of(resealed) == "k2"
    assert rotated.needs_rotation(resealed) is False
    assert rotated.open(resealed, **BINDING) == SECRET
    with pytest.raises(CryptoError) as err:
        old.open(resealed, **BINDING)
    assert _code(err) == "UNKNOWN_KEY_ID"

    retired = Sealer(rotated.keyring.without_key("k1"))
    assert retired.open(resealed, **BINDING) == SECRET
    with pytest.raises(CryptoError) as err:
        retired.open(envelope, **BINDING)
    assert _code(err) == "UNKNOWN_KEY_ID"


def test_reseal_checks_binding(keyring):
    envelope = Sealer(keyring).seal(SECRET, **BINDING)
    rotated = Sealer(keyring.with_key("k2", K2))
    with pytest.raises(CryptoError) as err:
        rotated.reseal(envelope, **{**BINDING, "record_id": "conn_2"})
    assert _code(err) == "DECRYPTION_FAILED"


def test_new_seals_use_primary(keyring):
    sealer = Sealer(keyring.with_key("k2", K2, primary=False))
    assert Sealer.key_id_of(sealer.seal(SECRET, **BINDING)) == "k1"
    sealer = Sealer(keyring.with_key("k2", K2))
    assert Sealer.key_id_of(sealer.seal(SECRET, **BINDING)) == "k2"


# -- JSON conveniences --------------------------------------------------------------------------
def test_json_round_trip(sealer):
    payload = {"api_key": "sk_live_abc", "nested": {"n": 1, "ok": True}, "name": "café ☕"}
    envelope = sealer.seal_json(payload, **BINDING)
    assert sealer.open_json(envelope, **BINDING) == payload
    assert "sk_live_abc" not in envelope


def test_seal_json_is_compact_utf8(sealer):
    envelope = sealer.seal_json({"a": "é", "b": [1, 2]}, **BINDING)
    assert sealer.open(envelope, **BINDING) == '{"a":"é","b":[1,2]}'.encode()


def test_open_json_of_non_object_is_refused(sealer):
    for plaintext in (b"[1,2]", b"not json", b"\xff\xfe"):
        envelope = sealer.seal(plaintext, **BINDING)
        with pytest.raises(CryptoError) as err:
            sealer.open_json(envelope, **BINDING)
        assert _code(err) == "MALFORMED_CIPHERTEXT"
        assert err.value.__context__ is None or err.value.__suppress_context__


def test_seal_json_of_unserialisable_payload(sealer):
    with pytest.raises(CryptoError) as err:
        sealer.seal_json({"secret": b"sk_live_raw_bytes"}, **BINDING)
    assert _code(err) == "INVALID_PLAINTEXT"
    assert "sk_live_raw_bytes" not in str(err.value)


# -- reprs and caching --------------------------------------------------------------------------
def test_reprs_show_no_key_material(sealer):
    for obj in (sealer, sealer.keyring, TenantKeyCache(sealer.keyring)):
        text = repr(obj)
        assert "k1" in text
        assert K1.hex() not in text
        assert base64.b64encode(K1).decode() not in text
        assert repr(K1) not in text


def test_tenant_key_cache_is_bounded_and_consistent(keyring):
    cache = TenantKeyCache(keyring, maxsize=3)
    first = cache.tenant_key("k1", "t0")
    for i in range(10):
        cache.tenant_key("k1", f"t{i}")
    assert len(cache) == 3
    assert cache.tenant_key("k1", "t0") == first
    assert cache.primary("t0") == ("k1", first)
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(CryptoError) as err:
        cache.tenant_key("nope", "t0")
    assert _code(err) == "UNKNOWN_KEY_ID"


def test_sealer_is_thread_safe(keyring):
    sealer = Sealer(keyring, cache_size=4)

    def work(n: int) -> int:
        for i in range(50):
            binding = {"tenant_id": f"t{(n + i) % 7}", "record_id": f"r{i}", "purpose": "p"}
            data = f"{n}-{i}".encode()
            assert sealer.open(sealer.seal(data, **binding), **binding) == data
        return n

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = [future.result() for future in [pool.submit(work, n) for n in range(8)]]
    assert done == list(range(8))

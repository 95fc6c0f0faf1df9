"""Published test vectors through the exact library calls Tether's crypto makes.

* HKDF: RFC 5869 Appendix A, test cases 1-3 (SHA-256), through ``hkdf_sha256`` -- the function
  ``derive_tenant_key`` calls.
* AES-256-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, test
  cases 13-16 (256-bit key, 96-bit IV; 16 has AAD), through ``AESGCM`` and through the
  envelope's own ``_gcm_encrypt`` / ``_gcm_decrypt``.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tether.crypto.envelope import _gcm_decrypt, _gcm_encrypt
from tether.crypto.tenant_keys import (
    TENANT_KEY_INFO_PREFIX,
    TENANT_KEY_SALT,
    derive_tenant_key,
    hkdf_sha256,
)
from tether.domain.errors import CryptoError

# -- RFC 5869 Appendix A ------------------------------------------------------------------------
RFC5869_CASES = [
    pytest.param(
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "000102030405060708090a0b0c",
        "f0f1f2f3f4f5f6f7f8f9",
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        id="A.1",
    ),
    pytest.param(
        "000102030405060708090a0b0c0d0e0f"
        "101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f"
        "303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f",
        "606162636465666768696a6b6c6d6e6f"
        "707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f"
        "909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
        "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
        "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
        82,
        "b11e398dc80327a1c8e7f78c596a4934"
        "4f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09"
        "da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f"
        "1d87",
        id="A.2",
    ),
    pytest.param(
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "",
        "",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        id="A.3",
    ),
]


@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), RFC5869_CASES)
def test_hkdf_sha256_reproduces_rfc5869(ikm, salt, info, length, okm):
    out = hkdf_sha256(bytes.fromhex(ikm), bytes.fromhex(salt), bytes.fromhex(info), length)
    assert out.hex() == okm


def test_derive_tenant_key_is_hkdf_with_the_documented_salt_and_info():
    master = bytes(range(32))
    expected = hkdf_sha256(master, b"tether/tenant-key/v1", b"tenant:acme", 32)
    assert TENANT_KEY_SALT == b"tether/tenant-key/v1"
    assert TENANT_KEY_INFO_PREFIX == b"tenant:"
    assert derive_tenant_key(master, "acme") == expected
    assert len(expected) == 32


def test_derive_tenant_key_separates_tenants_and_masters():
    master = bytes(range(32))
    other_master = bytes(range(1, 33))
    assert derive_tenant_key(master, "acme") != derive_tenant_key(master, "acme2")
    assert derive_tenant_key(master, "acme") != derive_tenant_key(other_master, "acme")
    assert derive_tenant_key(master, "acme") == derive_tenant_key(master, "acme")


def test_derive_tenant_key_encodes_tenant_as_utf8():
    master = bytes(range(32))
    expected = hkdf_sha256(master, TENANT_KEY_SALT, "tenant:café".encode(), 32)
    assert derive_tenant_key(master, "café") == expected


@pytest.mark.parametrize("bad", [b"", bytes(16), bytes(33)])
def test_derive_tenant_key_rejects_wrong_master_length(bad):
    with pytest.raises(CryptoError) as err:
        derive_tenant_key(bad, "acme")
    assert err.value.code == "INVALID_KEY"


def test_derive_tenant_key_rejects_empty_tenant():
    with pytest.raises(CryptoError) as err:
        derive_tenant_key(bytes(32), "")
    assert err.value.code == "INVALID_BINDING"


# -- McGrew & Viega GCM spec, Appendix B, AES-256 ---------------------------------------------
_K15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
_IV15 = "cafebabefacedbaddecaf888"
_P15 = (
    "d9313225f88406e5a55909c5aff5269a"
    "86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525"
    "b16aedf5aa0de657ba637b391aafd255"
)
_C15 = (
    "522dc1f099567d07f47f37a32a84427d"
    "643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838"
    "c5f61e6393ba7a0abcc9f662898015ad"
)
_P16 = (
    "d9313225f88406e5a55909c5aff5269a"
    "86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525"
    "b16aedf5aa0de657ba637b39"
)
_A16 = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
_C16 = (
    "522dc1f099567d07f47f37a32a84427d"
    "643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838"
    "c5f61e6393ba7a0abcc9f662"
)
_T16 = "76fc6ece0f4e1768cddf8853bb2d551b"

GCM_CASES = [
    pytest.param("00" * 32, "00" * 12, "", "", "", "530f8afbc74536b9a963b4f1c4cb738b", id="TC13"),
    pytest.param(
        "00" * 32,
        "00" * 12,
        "00" * 16,
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
        id="TC14",
    ),
    pytest.param(_K15, _IV15, _P15, "", _C15, "b094dac5d93471bdec1a502270e3cc6c", id="TC15"),
    pytest.param(_K15, _IV15, _P16, _A16, _C16, _T16, id="TC16"),
]


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "ciphertext", "tag"), GCM_CASES)
def test_aesgcm_reproduces_gcm_spec_vectors(key, iv, plaintext, aad, ciphertext, tag):
    aesgcm = AESGCM(bytes.fromhex(key))
    aad_bytes = bytes.fromhex(aad) or None
    out = aesgcm.encrypt(bytes.fromhex(iv), bytes.fromhex(plaintext), aad_bytes)
    assert out.hex() == ciphertext + tag
    assert aesgcm.decrypt(bytes.fromhex(iv), out, aad_bytes).hex() == plaintext


@pytest.mark.parametrize(("key", "iv", "plaintext", "aad", "ciphertext", "tag"), GCM_CASES)
def test_envelope_gcm_primitive_reproduces_gcm_spec_vectors(
    key, iv, plaintext, aad, ciphertext, tag
):
    k, n, p, a = (bytes.fromhex(x) for x in (key, iv, plaintext, aad))
    out = _gcm_encrypt(k, n, p, a)
    assert out.hex() == ciphertext + tag
    assert _gcm_decrypt(k, n, out, a) == p


def test_envelope_gcm_primitive_rejects_modified_test_case_16():
    k, n, p, a = (bytes.fromhex(x) for x in (_K15, _IV15, _P16, _A16))
    sealed = bytearray(_gcm_encrypt(k, n, p, a))
    sealed[-1] ^= 0x01
    with pytest.raises(CryptoError) as err:
        _gcm_decrypt(k, n, bytes(sealed), a)
    assert err.value.code == "DECRYPTION_FAILED"
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__ is True
    with pytest.raises(CryptoError):
        _gcm_decrypt(k, n, _gcm_encrypt(k, n, p, a), a + b"\x00")

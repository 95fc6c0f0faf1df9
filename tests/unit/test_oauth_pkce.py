"""PKCE (RFC 7636): verifiers and S256 challenges."""

from __future__ import annotations

import re
import string

import pytest

from tether.oauth.pkce import new_verifier, s256_challenge

UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_new_verifier_defaults_to_64_unreserved_characters() -> None:
    verifier = new_verifier()
    assert len(verifier) == 64
    assert set(verifier) <= UNRESERVED


@pytest.mark.parametrize("length", [43, 44, 100, 128])
def test_new_verifier_honours_valid_lengths(length: int) -> None:
    verifier = new_verifier(length)
    assert len(verifier) == length
    assert set(verifier) <= UNRESERVED
    s256_challenge(verifier)  # its own output is always acceptable


@pytest.mark.parametrize("length", [0, 42, 129, -1])
def test_new_verifier_refuses_lengths_outside_the_rfc(length: int) -> None:
    with pytest.raises(ValueError, match="43 to 128"):
        new_verifier(length)


def test_new_verifiers_are_random() -> None:
    assert len({new_verifier() for _ in range(50)}) == 50


def test_challenge_is_unpadded_base64url_of_43_characters() -> None:
    for _ in range(20):
        challenge = s256_challenge(new_verifier())
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge)


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,
        "a" * 129,
        "",
        "a" * 42 + "+",
        "a" * 42 + " ",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "é" * 43,
        "a" * 42 + "\n",
    ],
)
def test_challenge_refuses_invalid_verifiers_without_echoing_them(verifier: str) -> None:
    with pytest.raises(ValueError, match="PKCE verifier") as info:
        s256_challenge(verifier)
    if verifier:
        assert verifier not in str(info.value)


def test_challenge_accepts_every_unreserved_character() -> None:
    verifier = "-._~" + "A" * 39
    assert len(s256_challenge(verifier)) == 43

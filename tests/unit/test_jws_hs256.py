"""The standard-library HS256 check of dev tokens, against tokens PyJWT makes: it accepts what
PyJWT accepts and refuses what PyJWT refuses (with the options the dev verifier used with
PyJWT), and refuses a few things PyJWT would let through (``crit``, an unencoded payload,
dates that are not numbers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from tether.api.jws_hs256 import ExpiredToken, InvalidToken, verify_hs256

SECRET = "s" * 64
NOW = 1_900_000_000
LEEWAY = 30
REQUIRED = ("exp", "sub")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(
    claims: dict[str, Any],
    *,
    key: str = SECRET,
    headers: dict[str, Any] | None = None,
    alg: str = "HS256",
) -> str:
    return jwt.encode(claims, key if alg != "none" else "", algorithm=alg, headers=headers)


def _ours(token: str) -> dict[str, Any]:
    return verify_hs256(token, SECRET.encode(), now=NOW, leeway=LEEWAY, require=REQUIRED)


def _pyjwt(token: str) -> dict[str, Any]:
    """What the dev verifier did with PyJWT, at the same ``NOW``."""
    claims: dict[str, Any] = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        leeway=LEEWAY,
        options={
            "require": list(REQUIRED),
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
        },
    )
    # PyJWT checks times against the wall clock and ``NOW`` is pinned: its comparisons, here.
    for name in ("iat", "nbf"):
        if name in claims and int(claims[name]) > NOW + LEEWAY:
            raise jwt.ImmatureSignatureError(name)
    if int(claims["exp"]) <= NOW - LEEWAY:
        raise jwt.ExpiredSignatureError("expired")
    return claims


def _signed(header: dict[str, Any] | bytes, claims: dict[str, Any] | bytes) -> str:
    """A token with this exact header and claims, correctly signed with ``SECRET``."""
    raw = [h if isinstance(h, bytes) else json.dumps(h).encode() for h in (header, claims)]
    signing_input = f"{_b64(raw[0])}.{_b64(raw[1])}"
    signature = hmac.digest(SECRET.encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(signature)}"


HS256 = {"alg": "HS256", "typ": "JWT"}


GOOD = {"sub": "user-1", "tenant_id": "acme", "iat": NOW - 5, "exp": NOW + 600}

ACCEPTED = [
    GOOD,
    {"sub": "u", "exp": NOW + 1},
    {"sub": "u", "exp": NOW - LEEWAY + 1},  # within the leeway
    {"sub": "u", "exp": NOW + 60, "nbf": NOW + LEEWAY},  # not-before within the leeway
    {"sub": "u", "exp": NOW + 60, "iat": NOW + LEEWAY},
    {"sub": "u", "exp": float(NOW + 60), "jti": "id-1", "iss": "tether-dev"},
    {"sub": "u", "exp": NOW + 60, "aud": ""},  # an empty audience is no audience
    {"sub": "u", "exp": NOW + 60, "nested": {"tenant": "acme"}, "list": [1, 2]},
]


@pytest.mark.parametrize("claims", ACCEPTED)
def test_accepts_what_pyjwt_accepts(claims: dict[str, Any]) -> None:
    token = _token(claims)
    assert _ours(token) == _pyjwt(token) == json.loads(json.dumps(claims))


def test_a_kid_header_is_allowed() -> None:
    assert _ours(_token(GOOD, headers={"kid": "dev-1"})) == GOOD


EXPIRED = [
    {"sub": "u", "exp": NOW - LEEWAY},  # the boundary is expired, as in PyJWT
    {"sub": "u", "exp": 1},
]


@pytest.mark.parametrize("claims", EXPIRED)
def test_expired_like_pyjwt(claims: dict[str, Any]) -> None:
    token = _token(claims)
    with pytest.raises(jwt.ExpiredSignatureError):
        _pyjwt(token)
    with pytest.raises(ExpiredToken):
        _ours(token)


REFUSED: list[tuple[str, str]] = [
    ("wrong key", _token(GOOD, key="k" * 64)),
    ("HS512", _token(GOOD, alg="HS512")),
    ("HS384", _token(GOOD, alg="HS384")),
    ("alg none", _token(GOOD, alg="none")),
    ("no exp", _token({"sub": "u"})),
    ("no sub", _token({"exp": NOW + 60})),
    ("null sub", _token({"sub": None, "exp": NOW + 60})),
    ("numeric sub", _token({"sub": 7, "exp": NOW + 60})),
    ("numeric jti", _token({"sub": "u", "exp": NOW + 60, "jti": 7})),
    ("audience", _token({"sub": "u", "exp": NOW + 60, "aud": "someone"})),
    ("audience list", _token({"sub": "u", "exp": NOW + 60, "aud": ["someone"]})),
    ("nbf ahead", _token({"sub": "u", "exp": NOW + 600, "nbf": NOW + LEEWAY + 1})),
    ("iat ahead", _token({"sub": "u", "exp": NOW + 600, "iat": NOW + LEEWAY + 1})),
    ("kid not a string", _signed({**HS256, "kid": 7}, GOOD)),
]


@pytest.mark.parametrize(("case", "token"), REFUSED, ids=[c for c, _ in REFUSED])
def test_refuses_what_pyjwt_refuses(case: str, token: str) -> None:
    with pytest.raises(jwt.PyJWTError):
        _pyjwt(token)
    with pytest.raises(InvalidToken) as refused:
        _ours(token)
    assert not isinstance(refused.value, ExpiredToken), case


good_token = _token(GOOD)
header_part, claims_part, signature_part = good_token.split(".")
forged_claims = _b64(json.dumps({**GOOD, "tenant_id": "globex"}).encode())

MALFORMED: list[tuple[str, str]] = [
    ("empty", ""),
    ("two segments", f"{header_part}.{claims_part}"),
    ("four segments", f"{good_token}.{signature_part}"),
    ("claims swapped", f"{header_part}.{forged_claims}.{signature_part}"),
    ("signature cut", f"{header_part}.{claims_part}.{signature_part[:-2]}"),
    ("no signature", f"{header_part}.{claims_part}."),
    ("padding", f"{header_part}.{claims_part}.{signature_part}="),
    ("standard alphabet", f"{header_part}.{claims_part}+.{signature_part}"),
    ("impossible length", f"{header_part}.{claims_part}.{signature_part}A"),
    ("header not JSON", _signed(b"{alg", GOOD)),
    ("header a list", _signed(b'["HS256"]', GOOD)),
    ("header without alg", _signed({"typ": "JWT"}, GOOD)),
    ("alg lower case", _signed({"alg": "hs256"}, GOOD)),
    ("claims not JSON", _signed(HS256, b"{sub")),
    ("claims a list", _signed(HS256, b'["u"]')),
    # Refused here, where PyJWT would honour them: no dev token carries them.
    ("crit", _signed({**HS256, "crit": ["exp"], "exp": 1}, GOOD)),
    ("unencoded payload", _signed({**HS256, "b64": False, "crit": ["b64"]}, GOOD)),
    ("b64 without crit", _signed({**HS256, "b64": False}, GOOD)),
    ("exp as a string", _signed(HS256, {**GOOD, "exp": str(NOW + 600)})),
    ("exp as a boolean", _signed(HS256, {**GOOD, "exp": True})),
    ("nbf as a string", _signed(HS256, {**GOOD, "nbf": "soon"})),
]


@pytest.mark.parametrize(("case", "token"), MALFORMED, ids=[c for c, _ in MALFORMED])
def test_refuses_malformed_or_forged_tokens(case: str, token: str) -> None:
    with pytest.raises(InvalidToken) as refused:
        _ours(token)
    assert not isinstance(refused.value, ExpiredToken), case


def test_a_correctly_signed_token_of_our_own_making_verifies() -> None:
    # The helper above is sound: what it signs verifies, so the cases refused above are
    # refused for their header or claims, not for a bad signature.
    assert _ours(_signed(HS256, GOOD)) == GOOD


def test_the_reason_names_the_check_not_the_token() -> None:
    with pytest.raises(InvalidToken) as refused:
        _ours(_token({**GOOD, "tenant_id": "secret-tenant"}, key="k" * 64))
    assert refused.value.reason == "signature mismatch"
    assert "secret-tenant" not in str(refused.value)

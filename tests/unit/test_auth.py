"""Token verification: dev HS256, JWKS (RS256/ES256) over real loopback HTTP, Firebase."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tether.api.auth import (
    DevTokenVerifier,
    JwksTokenVerifier,
    bearer_token,
    firebase_verifier,
    issue_dev_token,
)
from tether.domain.errors import Unauthenticated

SECRET = "x" * 64


def test_dev_token_round_trip() -> None:
    principal = DevTokenVerifier(SECRET).verify(
        issue_dev_token(SECRET, tenant_id="acme", user_id="u")
    )
    assert (principal.tenant_id, principal.user_id) == ("acme", "u")


@pytest.mark.parametrize(
    ("claims", "key", "alg", "code"),
    [
        ({"sub": "u", "tenant_id": "acme", "exp": 1}, SECRET, "HS256", "TOKEN_EXPIRED"),
        ({"sub": "u", "tenant_id": "acme", "exp": 4102444800}, "y" * 64, "HS256", "INVALID_TOKEN"),
        ({"sub": "u", "exp": 4102444800}, SECRET, "HS256", "INVALID_TOKEN"),
        ({"tenant_id": "acme", "exp": 4102444800}, SECRET, "HS256", "INVALID_TOKEN"),
        ({"sub": "u", "tenant_id": "acme"}, SECRET, "HS256", "INVALID_TOKEN"),
        ({"sub": "u", "tenant_id": "../etc", "exp": 4102444800}, SECRET, "HS256", "INVALID_TOKEN"),
        ({"sub": "u", "tenant_id": "acme", "exp": 4102444800}, SECRET, "HS512", "INVALID_TOKEN"),
    ],
)
def test_dev_token_rejections(claims: dict[str, Any], key: str, alg: str, code: str) -> None:
    token = jwt.encode(claims, key, algorithm=alg)
    with pytest.raises(Unauthenticated) as info:
        DevTokenVerifier(SECRET).verify(token)
    assert info.value.code == code


def test_alg_none_is_rejected() -> None:
    token = jwt.encode({"sub": "u", "tenant_id": "acme", "exp": 4102444800}, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        DevTokenVerifier(SECRET).verify(token)


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in (None, "", "Bearer", "Basic abc", "abc"):
        with pytest.raises(Unauthenticated):
            bearer_token(bad)


class _Jwks:
    """A JWKS endpoint on loopback serving the public halves of keys we sign with."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        keys = []
        for kid, key, alg in (("rsa1", self.rsa, "RS256"), ("ec1", self.ec, "ES256")):
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": alg})
            keys.append(jwk)
        body = json.dumps({"keys": keys}).encode()
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, claims: dict[str, Any], *, alg: str = "RS256", kid: str = "rsa1") -> str:
        key = self.rsa if alg.startswith("RS") else self.ec
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks() -> Iterator[_Jwks]:
    server = _Jwks()
    yield server
    server.close()


def _claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "user-9",
        "iat": now,
        "exp": now + 600,
        "iss": "https://idp.example",
        "aud": "tether",
    }
    base.update(extra)
    return base


def test_jwks_rs256_and_es256(jwks: _Jwks) -> None:
    verifier = JwksTokenVerifier(
        jwks_url=jwks.url, issuer="https://idp.example", audience="tether", tenant_claim="org.id"
    )
    p1 = verifier.verify(jwks.sign(_claims(org={"id": "acme"})))
    p2 = verifier.verify(jwks.sign(_claims(org={"id": "globex"}), alg="ES256", kid="ec1"))
    assert (p1.tenant_id, p1.user_id, p2.tenant_id) == ("acme", "user-9", "globex")
    assert jwks.hits == 1  # keys are cached


@pytest.mark.parametrize(
    "mutation",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"exp": 1},
        {"org": {}},
    ],
)
def test_jwks_rejections(jwks: _Jwks, mutation: dict[str, Any]) -> None:
    verifier = JwksTokenVerifier(
        jwks_url=jwks.url, issuer="https://idp.example", audience="tether", tenant_claim="org.id"
    )
    claims = _claims(org={"id": "acme"})
    claims.update(mutation)
    with pytest.raises(Unauthenticated):
        verifier.verify(jwks.sign(claims))


def test_jwks_rejects_hs256_signed_with_the_public_key(jwks: _Jwks) -> None:
    verifier = JwksTokenVerifier(jwks_url=jwks.url, issuer="https://idp.example", audience="tether")
    token = jwt.encode(
        _claims(tenant_id="acme"),
        "whatever-secret-0123456789abcdef",
        algorithm="HS256",
        headers={"kid": "rsa1"},
    )
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_jwks_a_token_naming_a_key_of_another_type_is_refused(jwks: _Jwks) -> None:
    """ES256 and RS256 are both allowed, but a token whose ``kid`` names the RSA key while
    its header says ES256 is an invalid token (401), not an error inside the verifier."""
    verifier = JwksTokenVerifier(jwks_url=jwks.url, issuer="https://idp.example", audience="tether")
    for alg, kid in (("ES256", "rsa1"), ("RS256", "ec1")):
        key = jwks.ec if alg == "ES256" else jwks.rsa
        token = jwt.encode(_claims(tenant_id="acme"), key, algorithm=alg, headers={"kid": kid})
        with pytest.raises(Unauthenticated) as info:
            verifier.verify(token)
        assert info.value.code == "INVALID_TOKEN"


def test_jwks_unreachable_fails_closed() -> None:
    verifier = JwksTokenVerifier(
        jwks_url="http://127.0.0.1:9/none.json", issuer="https://idp.example", audience="tether"
    )
    server = _Jwks()
    try:
        token = server.sign(_claims(tenant_id="acme"))
    finally:
        server.close()
    with pytest.raises(Unauthenticated) as info:
        verifier.verify(token)
    assert info.value.code in {"JWKS_UNAVAILABLE", "INVALID_TOKEN"}


def test_firebase_tokens(jwks: _Jwks) -> None:
    verifier = firebase_verifier(
        project_id="proj-1", jwks_url=jwks.url, tenant_claim="firebase.tenant"
    )
    claims = _claims(
        iss="https://securetoken.google.com/proj-1", aud="proj-1", firebase={"tenant": "acme-x1"}
    )
    assert verifier.verify(jwks.sign(claims)).tenant_id == "acme-x1"
    wrong_project = dict(claims, aud="proj-2", iss="https://securetoken.google.com/proj-2")
    with pytest.raises(Unauthenticated):
        verifier.verify(jwks.sign(wrong_project))
    with pytest.raises(Unauthenticated):  # Firebase tokens are RS256 only
        verifier.verify(jwks.sign(claims, alg="ES256", kid="ec1"))


class _Counting:
    """A dev verifier that records every token it is asked to verify."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._inner = DevTokenVerifier(SECRET)

    def verify(self, token: str):
        self.calls.append(token)
        return self._inner.verify(token)


def test_weak_or_symmetric_configuration_is_refused() -> None:
    from tether.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        DevTokenVerifier("short")
    with pytest.raises(ConfigurationError):
        JwksTokenVerifier(
            jwks_url="http://127.0.0.1:9/", issuer="i", audience="a", algorithms=("HS256",)
        )


def test_caching_verifier_reuses_only_unexpired_results() -> None:
    from tether.api.auth import CachingVerifier
    from tether.domain.clock import FixedClock

    clock = FixedClock(datetime.fromtimestamp(time.time(), UTC))
    counting = _Counting()
    calls = counting.calls
    verifier = CachingVerifier(counting, clock=clock, maxsize=2)
    token = issue_dev_token(SECRET, tenant_id="acme", ttl=timedelta(seconds=60), now=clock.now())
    assert verifier.verify(token).tenant_id == "acme"
    assert verifier.verify(token).tenant_id == "acme"
    assert len(calls) == 1
    clock.advance(61)  # past exp by this clock: the cache must not answer, the inner one must
    verifier.verify(token)
    assert len(calls) == 2
    with pytest.raises(Unauthenticated):
        verifier.verify("forged.token.value")
    assert len(calls) == 3


def test_caching_verifier_is_bounded() -> None:
    from tether.api.auth import CachingVerifier

    counting = _Counting()
    calls = counting.calls
    verifier = CachingVerifier(counting, maxsize=2)
    a, b, c = (issue_dev_token(SECRET, tenant_id=t) for t in ("a", "b", "c"))
    for token in (a, b, c):
        verifier.verify(token)
    verifier.verify(c)
    assert len(calls) == 3  # c was cached
    verifier.verify(a)
    assert len(calls) == 4  # a had been pushed out

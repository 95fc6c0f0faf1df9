"""Callers of the `tasks` function: Google-style OIDC tokens (keys fetched over real HTTP) and
the local task token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.jwks_server import JwksServer
from tether.api.task_auth import OidcTaskCallerVerifier, TaskTokenVerifier
from tether.domain.errors import ConfigurationError, Forbidden, Unauthenticated

SA = "tether-tasks@proj.iam.gserviceaccount.com"
AUD = "https://tasks.example.run.app"


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with JwksServer().serving() as server:
        yield server


@pytest.fixture
def verifier(jwks: JwksServer) -> OidcTaskCallerVerifier:
    return OidcTaskCallerVerifier(jwks_url=jwks.url, audience=AUD, service_account=SA)


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": "https://accounts.google.com",
        "aud": AUD,
        "email": SA,
        "email_verified": True,
        "sub": "1234567890",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_token_of_the_service_account_passes(jwks, verifier):
    assert verifier.verify(f"Bearer {jwks.sign(_claims())}") == SA
    # Google also issues with the bare host name as issuer.
    assert verifier.verify(f"Bearer {jwks.sign(_claims(iss='accounts.google.com'))}") == SA


@pytest.mark.parametrize(
    ("claims", "error"),
    [
        (_claims(aud="https://other.example"), Unauthenticated),
        (_claims(iss="https://evil.example"), Unauthenticated),
        (_claims(email=None), Unauthenticated),
        (_claims(email="someone@proj.iam.gserviceaccount.com"), Forbidden),
        (_claims(email_verified=False), Forbidden),
    ],
)
def test_wrong_claims_are_refused(jwks, verifier, claims, error):
    with pytest.raises(error):
        verifier.verify(f"Bearer {jwks.sign(claims)}")


def test_expired_or_foreign_signed_tokens_are_refused(jwks, verifier):
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(f"Bearer {jwks.sign(_claims(), ttl=-120)}")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {jwks.sign(_claims(), key=stranger)}")
    with pytest.raises(Unauthenticated):
        verifier.verify(None)


def test_oidc_without_service_account_fails_closed(jwks):
    with pytest.raises(ConfigurationError):
        OidcTaskCallerVerifier(jwks_url=jwks.url, audience=AUD, service_account="")


def test_task_token_is_compared_exactly():
    token = "t" * 40
    verifier = TaskTokenVerifier(token)
    assert verifier.verify(f"Bearer {token}") == "task-token"
    with pytest.raises(Unauthenticated):
        verifier.verify(f"Bearer {token[:-1]}x")
    with pytest.raises(ConfigurationError):
        TaskTokenVerifier("short")

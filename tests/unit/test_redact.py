"""Masking credential values in JSON-shaped data (fetch output) by value only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tether.http.redact import REDACTED, Redactor

SECRET = "s3cret/Value+1="


def test_scrub_masks_values_and_keys_at_any_depth_and_copies() -> None:
    data = {
        "a": SECRET,
        SECRET: 1,
        "list": [f"Bearer {SECRET}", ("t", SECRET), {"q": "s3cret%2FValue%2B1%3D"}],
        "n": 1.5,
        "none": None,
        "ok": True,
    }
    scrubbed = Redactor([SECRET]).scrub(data)
    assert scrubbed == {
        "a": REDACTED,
        REDACTED: 1,
        "list": [f"Bearer {REDACTED}", ["t", REDACTED], {"q": REDACTED}],
        "n": 1.5,
        "none": None,
        "ok": True,
    }
    assert data["a"] == SECRET  # the input is left as it was


def test_scrub_changes_nothing_else() -> None:
    """Unlike log redaction, data that merely looks like a token (a JWT, a Stripe id) stays:
    only this connection's own values are masked."""
    data = {"id": "sk_live_0123456789abcdef", "jwt": "eyJhbGciOi.eyJzdWIiOi.sig", "s": "short"}
    assert Redactor([SECRET, "abc"]).scrub(data) == data
    assert Redactor().scrub(data) is data


def test_scrub_handles_nesting_deeper_than_the_recursion_limit() -> None:
    deep: object = SECRET
    for _ in range(5000):
        deep = [deep]
    out = Redactor([SECRET]).scrub(deep)
    for _ in range(5000):
        assert isinstance(out, list)
        out = out[0]
    assert out == REDACTED


def test_secrets_given_before_the_iterable_fails_are_masked() -> None:
    """A source of secrets that raises partway (a decryption error on the second one):
    what it gave is masked, and contains() and text() agree."""

    def secrets() -> Iterator[str]:
        yield SECRET
        raise RuntimeError("the second secret could not be read")

    redactor = Redactor()
    with pytest.raises(RuntimeError):
        redactor.add(secrets())
    assert redactor.contains(f"key={SECRET}")
    assert redactor.text(f"key={SECRET}") == f"key={REDACTED}"
    assert redactor.scrub({"a": SECRET}) == {"a": REDACTED}

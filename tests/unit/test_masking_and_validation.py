"""Masked hints and schema validation that never echo a credential."""

from __future__ import annotations

import pytest

from tether.connections.masking import credential_hints, mask_secret
from tether.connections.schema_validation import validate_against_schema
from tether.domain.errors import InvalidRequest

SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {
            "type": "string",
            "writeOnly": True,
            "pattern": "^sk_(live|test)_[A-Za-z0-9]+$",
        },
        "username": {"type": "string"},
        "port": {"type": "integer", "minimum": 1},
    },
    "required": ["api_key"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("sk_live_51HabcdefghijklmnOP4242", "sk_live_…4242"),
        ("sk_test_abcdefghijk1234", "sk_test_…1234"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_…0123"),
        ("plainsecretvaluewithoutprefix", "…efix"),
        ("short", "••••"),
        ("12345678", "…"),
    ],
)
def test_mask_secret(value: str, hint: str) -> None:
    assert mask_secret(value) == hint


def test_hints_mask_secrets_and_undescribed_fields() -> None:
    hints = credential_hints(
        {
            "api_key": "sk_live_51HabcdefghijklmnOP4242",
            "username": "ann",
            "other": "zzzzzzzzzzzzzzzzzzzz",
        },
        SCHEMA,
    )
    assert hints == {"api_key": "sk_live_…4242", "username": "ann", "other": "…zzzz"}


def test_validation_errors_name_fields_not_values() -> None:
    secret = "not-a-key-but-a-secret-9999"
    with pytest.raises(InvalidRequest) as info:
        validate_against_schema(
            {"api_key": secret, "extra": "e-secret-1", "port": 0}, SCHEMA, section="credentials"
        )
    error = info.value
    assert error.code == "INVALID_CREDENTIALS"
    problems = error.details["problems"]
    assert {p["field"] for p in problems} == {
        "credentials.api_key",
        "credentials.extra",
        "credentials.port",
    }
    rendered = repr(error.to_dict())
    assert secret not in rendered and "e-secret-1" not in rendered


def test_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_against_schema({}, SCHEMA, section="credentials")
    assert info.value.message == "credentials.api_key is required"

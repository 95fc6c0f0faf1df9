"""Structured logs and their redaction."""

from __future__ import annotations

import json
import logging

from tether.logs import JsonFormatter, redact, register_secret


def _format(msg: str, *args: object, **extra: object) -> dict:
    record = logging.LogRecord("tether.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter().format(record))


def test_cloud_logging_fields() -> None:
    entry = _format("hello %s", "world", http_request={"status": 200})
    assert entry["severity"] == "INFO"
    assert entry["message"] == "hello world"
    assert entry["httpRequest"] == {"status": 200}
    assert "logging.googleapis.com/sourceLocation" in entry
    assert entry["time"].endswith("Z")


def test_registered_values_are_masked_everywhere() -> None:
    register_secret("zz-very-secret-value-42")
    entry = _format(
        "got %r", {"x": "zz-very-secret-value-42"}, context={"k": "a zz-very-secret-value-42 b"}
    )
    text = json.dumps(entry)
    assert "zz-very-secret-value-42" not in text
    assert "[REDACTED]" in entry["message"]


def test_secret_shapes_and_keys_are_masked() -> None:
    assert "abcdefghijkl" not in redact("Authorization: Bearer abcdefghijkl")
    assert "sk_live_abcdef123456" not in redact("key=sk_live_abcdef123456")
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
    assert jwt_like not in redact(f"token {jwt_like}")
    entry = _format(
        "x", detail={"password": "p", "api_key": "k", "fields": ["api_key"], "token_hash": "h"}
    )
    assert entry["detail"] == {
        "password": "[REDACTED]",
        "api_key": "[REDACTED]",
        "fields": ["api_key"],
        "token_hash": "h",
    }


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc def") == "abc def"


def test_http_client_request_lines_are_not_logged() -> None:
    import logging

    from tether.logs import configure_logging

    configure_logging()
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)

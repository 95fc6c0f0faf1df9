"""Structured JSON logs in the shape Cloud Logging reads from stdout, with secrets redacted.

Redaction happens in the formatter, on the finished line, three ways: values of fields whose
*names* look secret (``authorization``, ``password``, ``api_key``…), bearer tokens and JWTs by
shape, and any exact value registered with :func:`register_secret` during the current request
or task (credential values pass through it as they enter or leave the secret store), so even a
stray ``repr`` in a traceback comes out masked.

The MCP SDK's own lines keep where and what (module, function, level, an exception's type)
and lose their text: it logs a message it cannot validate whole, and pydantic's account of
it, which quote a tool's arguments, whatever the caller sent in them.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
import sys
import traceback
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "redact", "register_secret", "secret_scope"]

_SENSITIVE_KEY = re.compile(
    r"(authorization|password|passwd|secret|token|api[_-]?key|credential|private[_-]?key|cookie)",
    re.IGNORECASE,
)
_SHAPES = re.compile(
    r"(?P<bearer>(?i:bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r"|\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"
    r"|\bwhsec_[A-Za-z0-9+/=]{8,}"
)
_REDACTED = "[REDACTED]"
_MAX_PER_SCOPE = 256
_MIN_SECRET_LEN = 6

# Exact values to mask, scoped to the current request or task (a context variable, so threads
# and requests never see each other's values and the set stays small and cheap to scan).
_scope: ContextVar[tuple[str, ...]] = ContextVar("tether_log_secrets", default=())


class _SecretScope:
    """One scope's entry and exit (a plain class: every request opens one, and a generator
    context manager costs several times as much)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _scope.set(())

    def __exit__(self, *exc_info: object) -> None:
        _scope.reset(self._token)


def secret_scope() -> AbstractContextManager[None]:
    """Open a fresh set of registered secrets for one request or task; dropped at exit."""
    return _SecretScope()


def register_secret(value: str) -> None:
    """Mask ``value`` in every log line written later in the current scope."""
    if not isinstance(value, str) or len(value) < _MIN_SECRET_LEN:
        return
    current = _scope.get()
    if value not in current:
        _scope.set((*current, value)[-_MAX_PER_SCOPE:])


def _mask_shape(match: re.Match[str]) -> str:
    return (match.group("bearer") or "") + _REDACTED


def redact(text: str) -> str:
    known = [v for v in _scope.get() if v in text]
    for value in sorted(known, key=len, reverse=True):
        text = text.replace(value, _REDACTED)
    return _SHAPES.sub(_mask_shape, text)


def _scrub(value: Any, key: str = "") -> Any:
    if key and _SENSITIVE_KEY.search(key) and not key.endswith(("_hash", "_hint", "_hints")):
        return _REDACTED
    if isinstance(value, dict):
        return {k: _scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


@functools.cache
def _mcp_sdk_folder() -> str | None:
    """The installed MCP SDK's package folder (found, not imported), ending in a separator."""
    spec = importlib.util.find_spec("mcp")
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    return os.path.join(folders[0], "") if folders else None


def _from_mcp_sdk(record: logging.LogRecord) -> bool:
    """A line of the MCP SDK: its loggers, or the root logger called from its code."""
    if record.name == "mcp" or record.name.startswith("mcp."):
        return True
    folder = _mcp_sdk_folder() if record.name == "root" else None
    return folder is not None and record.pathname.startswith(folder)


def _sdk_entry(record: logging.LogRecord) -> str:
    """What a line of the MCP SDK may say: where it was logged, and an exception's type."""
    said = f"the MCP SDK logged in {record.module}.{record.funcName} (its text is not kept)"
    if record.exc_info and record.exc_info[0] is not None:
        said += f": {record.exc_info[0].__name__}"
    return said


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        sdk = _from_mcp_sdk(record)
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": _sdk_entry(record) if sdk else redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "logger": record.name,
            "logging.googleapis.com/sourceLocation": {
                "file": record.pathname.rsplit("/", 1)[-1],
                "line": record.lineno,
                "function": record.funcName,
            },
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_") or value is None:
                continue
            entry["httpRequest" if key == "http_request" else key] = _scrub(value, key)
        if record.exc_info and not sdk:
            entry["stack_trace"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, default=str)


def configure_logging(level: str | None = None) -> None:
    """Route the root logger to stdout as JSON lines (idempotent; a given ``level`` is
    applied again)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(level or "INFO")
    elif level:
        root.setLevel(level)
    # httpx logs every request URL at INFO: URLs of provider calls may carry states, codes or
    # API keys in their query. Tether logs its own outbound calls, redacted.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The MCP SDK logs every request it handles at INFO; Tether logs its own requests.
    logging.getLogger("mcp").setLevel(logging.WARNING)

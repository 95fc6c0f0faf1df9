"""Tether's one error tree.

Every failure Tether reports is a :class:`TetherError` carrying data, not prose:

    TetherError                      code, message, http_status, retryable
    ├── InvalidRequest               400  malformed JSON, wrong types, schema violations
    │   ├── PayloadTooLarge          413  body over the configured cap
    │   └── MethodNotAllowed         405  path exists, method does not; carries ``allowed``
    ├── Unauthenticated              401  missing or unverifiable bearer token
    ├── Forbidden                    403
    ├── NotFound                     404  unknown id *or another tenant's id* (never 403)
    ├── Conflict                     409  id or dedupe key already exists
    │   ├── VersionConflict          409  optimistic-concurrency check failed
    │   └── RecordUnreadable         409  the stored record no longer decodes; delete it
    ├── PreconditionFailed           412  If-Match did not match
    ├── CryptoError                  500  tamper, wrong tenant/record/purpose, unknown key id
    ├── ConfigurationError           500  start-up refused (missing keyring, dev auth in cloud)
    └── BackendUnavailable           503  store/secret/queue backend failed; retryable

Messages are safe to show to a caller: they never contain a credential value.
Task handlers use ``retryable`` to choose between 5xx (Cloud Tasks retries) and 2xx.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BackendUnavailable",
    "ConfigurationError",
    "Conflict",
    "CryptoError",
    "Forbidden",
    "InvalidRequest",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "RecordUnreadable",
    "TetherError",
    "Unauthenticated",
    "VersionConflict",
]


class TetherError(Exception):
    """Root of every error Tether raises on purpose."""

    default_code: ClassVar[str] = "INTERNAL"
    default_status: ClassVar[int] = 500
    default_retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.http_status = http_status or self.default_status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidRequest(TetherError):
    default_code = "INVALID_REQUEST"
    default_status = 400


class PayloadTooLarge(InvalidRequest):
    default_code = "PAYLOAD_TOO_LARGE"
    default_status = 413


class MethodNotAllowed(InvalidRequest):
    """The path exists but not with this method; ``allowed`` becomes the response's ``Allow``
    header, which a 405 must carry (RFC 9110 section 15.5.6)."""

    default_code = "METHOD_NOT_ALLOWED"
    default_status = 405

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)


class Unauthenticated(TetherError):
    default_code = "UNAUTHENTICATED"
    default_status = 401


class Forbidden(TetherError):
    default_code = "FORBIDDEN"
    default_status = 403


class NotFound(TetherError):
    default_code = "NOT_FOUND"
    default_status = 404


class Conflict(TetherError):
    default_code = "CONFLICT"
    default_status = 409


class VersionConflict(Conflict):
    default_code = "VERSION_CONFLICT"
    default_retryable = True


class RecordUnreadable(Conflict):
    """The record exists but its stored form no longer decodes (written by an older, laxer
    version, or damaged). A 409, not a 500: the request is fine and retrying cannot help, but
    the caller can resolve the conflict by deleting the record (RFC 9110 section 15.5.10);
    a listing skips such a record instead of failing. The message never quotes the record."""

    default_code = "RECORD_UNREADABLE"


class PreconditionFailed(TetherError):
    default_code = "PRECONDITION_FAILED"
    default_status = 412


class CryptoError(TetherError):
    default_code = "CRYPTO_ERROR"
    default_status = 500


class ConfigurationError(TetherError):
    default_code = "CONFIGURATION_ERROR"
    default_status = 500


class BackendUnavailable(TetherError):
    default_code = "BACKEND_UNAVAILABLE"
    default_status = 503
    default_retryable = True

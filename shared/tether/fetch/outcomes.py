"""What a connection test found, in words a user can act on, and samples safe to show. Pure.

A :class:`ProbeOutcome` carries one :class:`OutcomeCode`, a message that says what happened
(naming the host at most: never a credential, a full URL or a response body) and a suggestion
that says what to do about it. The tables here map HTTP statuses, outbound failures
(:data:`tether.http.model.OutboundFailure`) and provider error texts (GraphQL ``errors``, Slack's
``{"ok": false, "error": …}``) to codes.

``NOT_TESTABLE`` is the one code that is not a verdict on the connection: the provider defines
no test request (incoming webhooks), or the test needs something the connection does not have
yet (an OAuth connection before its authorization). It is ``ok: false`` so that nobody reads it
as a success, and a stored connection's status and ``last_test`` are left as they were.

Samples (:func:`sample_records`, :class:`SampleRedactor`) are what a user sees of an answer: at
most three records, every key named like a secret replaced by ``"[redacted]"`` at any depth,
every known credential value (as written or URL-encoded) cut out of every string, strings cut
to 200 characters, nesting and lengths bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from tether.domain.decimal_digits import parse_decimal
from tether.http.model import OutboundFailure
from tether.http.redact import encoded_forms

__all__ = [
    "MISSING",
    "REDACTED",
    "SAMPLE_RECORDS",
    "OutcomeCode",
    "ProbeOutcome",
    "SampleRedactor",
    "code_for_error_text",
    "code_for_failure",
    "code_for_status",
    "describe_failure",
    "describe_status",
    "dig",
    "is_secret_key",
    "sample_records",
    "suggestion_for",
]

REDACTED = "[redacted]"
SAMPLE_RECORDS = 3
_MAX_STRING = 200
_MAX_ITEMS = 25  # per object or list inside a sample record
_MAX_DEPTH = 8
_MIN_SECRET_LEN = 4  # shorter values would mangle unrelated text and protect nothing


class OutcomeCode(StrEnum):
    OK = "OK"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    TIMEOUT = "TIMEOUT"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    TLS_ERROR = "TLS_ERROR"
    BLOCKED_DESTINATION = "BLOCKED_DESTINATION"
    INVALID_CONFIG = "INVALID_CONFIG"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    NOT_TESTABLE = "NOT_TESTABLE"


@dataclass(frozen=True)
class ProbeOutcome:
    """The answer to "does this connection work, and if not, why?".

    ``http_status`` is the provider's status when it answered over HTTP; ``latency_ms`` the
    time the test took when a request was made; ``sample`` up to three redacted records of
    the answer (on failure: the redacted error document, when there was one).
    """

    ok: bool
    code: OutcomeCode
    message: str
    suggestion: str | None
    http_status: int | None = None
    latency_ms: int | None = None
    sample: list[Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["code"] = self.code.value
        return body


# Auth kinds the suggestions distinguish: what the user has to check differs.
_CREDENTIAL_SUGGESTIONS: dict[str, str] = {
    "api_key": "Check that the API key is correct and complete, and has not been revoked "
    "or expired.",
    "bearer": "Check that the token is correct and complete, and has not been revoked or expired.",
    "basic": "Check the user name and password.",
    "oauth2": "Reconnect the account: the provider no longer accepts its authorization.",
    "oauth2_client_credentials": "Check the client id and secret, and that the app is still "
    "enabled at the provider.",
    "oauth2_jwt_bearer": "Check that the service account key is the whole JSON key file, "
    "that the key has not been deleted, and that the account may use these scopes.",
    "two_step": "Check the key or user name and password the provider issues its session "
    "token for, and that they have not been revoked.",
    "database": "Check the user name and password, and that the server accepts this user "
    "from outside its network.",
}

_SUGGESTIONS: dict[OutcomeCode, str | None] = {
    OutcomeCode.OK: None,
    OutcomeCode.INVALID_CREDENTIALS: _CREDENTIAL_SUGGESTIONS["api_key"],
    OutcomeCode.PERMISSION_DENIED: "The credentials work but lack permission for this "
    "request: grant the missing scopes or role to the key or account, then test again.",
    OutcomeCode.NOT_FOUND: "Check the base URL, the path and account-specific settings "
    "(such as a shop, region or database name): the server answered, but has nothing there.",
    OutcomeCode.RATE_LIMITED: "The provider is limiting requests: wait a minute and test "
    "again; if it keeps happening, lower this connection's rate limit.",
    OutcomeCode.TIMEOUT: "The server took too long to answer: check that it is up and not "
    "overloaded, then test again.",
    OutcomeCode.CONNECTION_FAILED: "Check the host name and that the server is reachable "
    "from the internet (not only from a private network or VPN).",
    OutcomeCode.TLS_ERROR: "The server's certificate is not valid for its name, expired or "
    "not issued by a trusted authority: fix the certificate or use the host name it was "
    "issued for.",
    OutcomeCode.BLOCKED_DESTINATION: "That address is not allowed: Tether does not call "
    "private or internal networks. Use the service's public address.",
    OutcomeCode.INVALID_CONFIG: "Correct the settings named in the message, then test again.",
    OutcomeCode.PROVIDER_ERROR: "The provider answered with an error: check its status page "
    "and test again later; if it persists, compare the settings with the provider's "
    "documentation.",
    OutcomeCode.NOT_TESTABLE: "Nothing to test yet: the connection is checked when it is "
    "first used.",
}


def suggestion_for(code: OutcomeCode, *, auth_kind: str | None = None) -> str | None:
    """What the user should do about ``code``; credential advice depends on ``auth_kind``
    (an auth mode, or ``database``)."""
    if code == OutcomeCode.INVALID_CREDENTIALS and auth_kind in _CREDENTIAL_SUGGESTIONS:
        return _CREDENTIAL_SUGGESTIONS[auth_kind]
    return _SUGGESTIONS[code]


def code_for_status(status: int) -> OutcomeCode:
    """The code of an HTTP status the test did not expect."""
    if status == 401:
        return OutcomeCode.INVALID_CREDENTIALS
    if status == 403:
        return OutcomeCode.PERMISSION_DENIED
    if status in (404, 410):
        return OutcomeCode.NOT_FOUND
    if status == 429:
        return OutcomeCode.RATE_LIMITED
    return OutcomeCode.PROVIDER_ERROR


def describe_status(status: int, host: str, expected: tuple[int, ...]) -> tuple[OutcomeCode, str]:
    """Code and message for an answer with a status not in ``expected``."""
    code = code_for_status(status)
    if code == OutcomeCode.INVALID_CREDENTIALS:
        message = f"{host} rejected the credentials (HTTP {status})."
    elif code == OutcomeCode.PERMISSION_DENIED:
        message = f"{host} accepted the credentials but refused access (HTTP {status})."
    elif code == OutcomeCode.NOT_FOUND:
        message = f"{host} has nothing at the test address (HTTP {status})."
    elif code == OutcomeCode.RATE_LIMITED:
        message = f"{host} is limiting requests (HTTP {status})."
    elif status >= 500:
        message = f"{host} failed with a server error (HTTP {status})."
    else:
        wanted = " or ".join(str(s) for s in expected)
        message = f"{host} answered HTTP {status} instead of {wanted}."
    return code, message


_FAILURE_CODES: dict[str, OutcomeCode] = {
    "blocked": OutcomeCode.BLOCKED_DESTINATION,
    "invalid_url": OutcomeCode.BLOCKED_DESTINATION,
    "timeout": OutcomeCode.TIMEOUT,
    "connect": OutcomeCode.CONNECTION_FAILED,
    "protocol": OutcomeCode.CONNECTION_FAILED,
    "invalid_request": OutcomeCode.INVALID_CONFIG,
    "too_many_redirects": OutcomeCode.CONNECTION_FAILED,
    "tls": OutcomeCode.TLS_ERROR,
    "rate_limited": OutcomeCode.RATE_LIMITED,
    "too_large": OutcomeCode.PROVIDER_ERROR,
}

_FAILURE_MESSAGES: dict[str, str] = {
    "blocked": "Tether does not call {host}: the address is private, internal or otherwise "
    "not allowed.",
    "invalid_url": "The test address is not a valid http(s) URL with a host.",
    "timeout": "{host} did not answer in time.",
    "connect": "Could not connect to {host}.",
    "protocol": "{host} sent an answer that is not valid HTTP.",
    "invalid_request": "The request to {host} was not sent: one of its header values is not "
    "valid HTTP (a line break or control character).",
    "too_many_redirects": "{host} redirected too many times.",
    "tls": "The secure (TLS) connection to {host} failed.",
    "rate_limited": "Requests to {host} are being rate limited.",
    "too_large": "The answer of {host} was larger than Tether accepts.",
}


def code_for_failure(failure: OutboundFailure | str) -> OutcomeCode:
    """The code of a request that got no usable HTTP answer."""
    return _FAILURE_CODES.get(failure, OutcomeCode.CONNECTION_FAILED)


def describe_failure(failure: OutboundFailure | str, host: str) -> tuple[OutcomeCode, str]:
    template = _FAILURE_MESSAGES.get(failure, "The request to {host} failed.")
    return code_for_failure(failure), template.format(host=host)


# Error texts of providers that answer 200 with an error (GraphQL ``errors``, Slack's
# ``error``), and GraphQL ``extensions.code`` values. Checked in this order.
_CREDENTIAL_TEXT = re.compile(
    r"unauthori[sz]ed|unauthenticated|not[ _]authed|authenticat|invalid[ _]auth"
    r"|(invalid|bad|wrong)[ _-]?(api[ _-]?)?(key|token|credential|password)"
    r"|(key|token|credentials?|password) (is )?(not valid|invalid|expired|revoked)"
    r"|token[ _](revoked|expired)|expired[ _]token|account[ _]inactive"
    r"|log[ _-]?in (failed|required)|not logged in",
    re.IGNORECASE,
)
_PERMISSION_TEXT = re.compile(
    r"forbidden|permission|missing[ _]scope|insufficient[ _]scope|access[ _]denied"
    r"|not[ _]allowed",
    re.IGNORECASE,
)
_RATE_TEXT = re.compile(
    r"rate[ _-]?limit|too many (\w+ )?(requests|tries|attempts)|throttl", re.IGNORECASE
)
_NOT_FOUND_TEXT = re.compile(r"not[ _]found|does not exist|no such", re.IGNORECASE)


def code_for_error_text(text: str) -> OutcomeCode:
    """Classify a provider's error text or code (``invalid_auth``, ``UNAUTHENTICATED``…)."""
    for pattern, code in (
        (_CREDENTIAL_TEXT, OutcomeCode.INVALID_CREDENTIALS),
        (_PERMISSION_TEXT, OutcomeCode.PERMISSION_DENIED),
        (_RATE_TEXT, OutcomeCode.RATE_LIMITED),
        (_NOT_FOUND_TEXT, OutcomeCode.NOT_FOUND),
    ):
        if pattern.search(text):
            return code
    return OutcomeCode.PROVIDER_ERROR


# -- samples -------------------------------------------------------------------------------
_SECRET_WORDS = frozenset(
    {
        "apikey",
        "auth",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "key",
        "keys",
        "passwd",
        "password",
        "passwords",
        "pwd",
        "secret",
        "secrets",
        "session",
        "sessions",
        "token",
        "tokens",
    }
)
_SECRET_ENDINGS = (
    "token",
    "tokens",
    "secret",
    "password",
    "passwd",
    "apikey",
    "accesskey",
    "privatekey",
    "cookie",
)
_SECRET_BEGINNINGS = ("session", "secret", "password")
_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def is_secret_key(name: str) -> bool:
    """``access_token``, ``apiKey``, ``X-Api-Key``, ``Set-Cookie``, ``sessionId`` → ``True``;
    ``monkey``, ``keynote``, ``author`` → ``False``."""
    spaced = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", name)).lower()
    for word in _NON_ALNUM.split(spaced):
        if not word:
            continue
        if word in _SECRET_WORDS:
            return True
        if word.endswith(_SECRET_ENDINGS) or word.startswith(_SECRET_BEGINNINGS):
            return True
    return False


class SampleRedactor:
    """Cuts secrets out of response data: by key name at any depth, and every known secret
    value (raw and URL-encoded) inside any string; then shortens long strings."""

    def __init__(self, secrets: Iterable[object] = ()) -> None:
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[object]) -> None:
        known = set(self._forms)
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < _MIN_SECRET_LEN:
                continue
            known |= {f for f in encoded_forms(secret) if len(f) >= _MIN_SECRET_LEN}
        self._forms = sorted(known, key=len, reverse=True)

    def text(self, value: str, *, limit: int | None = _MAX_STRING) -> str:
        for form in self._forms:
            if form in value:
                value = value.replace(form, REDACTED)
        if limit is not None and len(value) > limit:
            value = value[:limit] + "…"
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if depth >= _MAX_DEPTH:
            return "[…]"
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            items = list(value.items())
            for key, item in items[:_MAX_ITEMS]:
                name = self.text(str(key))
                out[name] = REDACTED if is_secret_key(str(key)) else self.value(item, depth + 1)
            if len(items) > _MAX_ITEMS:
                out["…"] = f"{len(items) - _MAX_ITEMS} more fields"
            return out
        if isinstance(value, list | tuple):
            shown = [self.value(item, depth + 1) for item in value[:_MAX_ITEMS]]
            if len(value) > _MAX_ITEMS:
                shown.append(f"… {len(value) - _MAX_ITEMS} more")
            return shown
        return self.text(str(value))


MISSING = object()


def dig(value: Any, path: str) -> Any:
    """The value at dotted ``path`` (numeric segments index lists), or ``MISSING``."""
    for segment in path.split("."):
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        elif isinstance(value, list) and (index := parse_decimal(segment)) is not None:
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def sample_records(body: Any, records_path: str | None, redactor: SampleRedactor) -> list[Any]:
    """Up to three redacted records: at ``records_path`` when it resolves, else the body when
    it is a list, else the body as one record."""
    found = dig(body, records_path) if records_path else MISSING
    source = body if found is MISSING else found
    if source is None:
        records: list[Any] = []
    elif isinstance(source, list):
        records = source[:SAMPLE_RECORDS]
    else:
        records = [source]
    return [redactor.value(record) for record in records]

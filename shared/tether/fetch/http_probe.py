"""The HTTP test request of a connection and the verdict on its answer (pure): which request
proves a connection works (:func:`http_probe_for`, from the catalog entry and the config), and
what the response says (:func:`evaluate_response`): success, or which failure, with a
redacted sample. See :mod:`tether.fetch.probe` for the rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tether.domain.errors import InvalidRequest
from tether.fetch.outcomes import (
    MISSING,
    SAMPLE_RECORDS,
    OutcomeCode,
    ProbeOutcome,
    SampleRedactor,
    code_for_error_text,
    describe_status,
    dig,
    sample_records,
    suggestion_for,
)
from tether.http.model import OutboundResponse

if TYPE_CHECKING:
    from tether.catalog import Provider

__all__ = ["HttpProbe", "evaluate_response", "http_probe_for"]


@dataclass(frozen=True)
class HttpProbe:
    """One test request, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    expect_status: tuple[int, ...]
    ok_path: str | None
    records_path: str | None

    @property
    def graphql(self) -> bool:
        return self.body is not None and isinstance(self.body.get("query"), str)

    @property
    def host(self) -> str:
        return _host_of(self.url)


def http_probe_for(provider: Provider, config: Mapping[str, Any]) -> HttpProbe | None:
    """The entry's test request for ``config`` (``None`` when the entry defines none). Raises
    :class:`InvalidRequest` when the config cannot make one (a missing URL value…)."""
    test = provider.test
    if test is None:
        return None
    url = provider.render_test_url(config)
    if url is None:  # pragma: no cover - render_test_url answers None only without a test
        return None
    props: Mapping[str, Any] = provider.config_schema.get("properties", {})
    headers = provider.headers_for(config)
    if "headers" in props:
        headers.update(_config_headers(config.get("headers")))
    if not any(name.lower() == "accept" for name in headers):
        headers["Accept"] = "application/json"
    body = dict(test.body) if test.body is not None else None
    ok_path = test.ok_path
    custom_query = config.get("test_query") if "test_query" in props else None
    if (
        body is not None
        and isinstance(body.get("query"), str)
        and isinstance(custom_query, str)
        and custom_query.strip()
        and custom_query.strip() != str(body["query"]).strip()
    ):
        body["query"] = custom_query
        ok_path = "data"  # the entry's ok_path belongs to its own query
    records_path = test.records_path
    custom_records = config.get("records_path") if "records_path" in props else None
    if isinstance(custom_records, str) and custom_records.strip():
        records_path = custom_records.strip()
    return HttpProbe(
        method=test.method,
        url=url,
        headers=headers,
        body=body,
        expect_status=tuple(test.expect_status),
        ok_path=ok_path,
        records_path=records_path,
    )


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _config_headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("config.headers has the wrong type", code="INVALID_CONFIG")
    headers: dict[str, str] = {}
    for name, header_value in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            raise InvalidRequest(
                "config.headers has a header name that is not valid", code="INVALID_CONFIG"
            )
        if not isinstance(header_value, str) or any(c in header_value for c in "\r\n\x00"):
            raise InvalidRequest(
                f"config.headers.{name} must be a single-line string", code="INVALID_CONFIG"
            )
        headers[name] = header_value
    return headers


def _host_of(url: str) -> str:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return host or "the server"


def _error_sample(body: Any, redactor: SampleRedactor) -> list[Any] | None:
    if body is MISSING:
        return None
    if isinstance(body, list):
        return [redactor.value(item) for item in body[:SAMPLE_RECORDS]]
    return [redactor.value(body)]


def _json_body(response: OutboundResponse) -> Any:
    if not response.content:
        return MISSING
    try:
        return response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return MISSING


def _error_texts(body: Any) -> str:
    """The error texts of a JSON error document, for classification only (never shown)."""
    texts: list[str] = []

    def collect(value: Any, depth: int = 0) -> None:
        if depth > 3:
            return
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, Mapping):
            for key in ("error", "errors", "message", "code", "type", "extensions", "detail"):
                if key in value:
                    collect(value[key], depth + 1)
        elif isinstance(value, list):
            for item in value[:10]:
                collect(item, depth + 1)

    collect(body)
    return " ".join(texts)


def evaluate_response(
    test: HttpProbe,
    response: OutboundResponse,
    redactor: SampleRedactor,
    *,
    auth_kind: str | None = None,
) -> ProbeOutcome:
    """Judge the answer to a test request (see the module documentation)."""
    host, status, latency = test.host, response.status, response.elapsed_ms
    body = _json_body(response)

    def failed(code: OutcomeCode, message: str, sample: list[Any] | None) -> ProbeOutcome:
        return ProbeOutcome(
            ok=False,
            code=code,
            message=redactor.text(message, limit=None),
            suggestion=suggestion_for(code, auth_kind=auth_kind),
            http_status=status,
            latency_ms=latency,
            sample=sample,
        )

    if status not in test.expect_status:
        code, message = describe_status(status, host, test.expect_status)
        if status in (400, 422) and body is not MISSING:
            refined = code_for_error_text(_error_texts(body))
            if refined in (OutcomeCode.INVALID_CREDENTIALS, OutcomeCode.PERMISSION_DENIED):
                code = refined
                what = "credentials" if refined == OutcomeCode.INVALID_CREDENTIALS else "access"
                message = f"{host} refused the request (HTTP {status}); its error is about {what}."
        return failed(code, message, _error_sample(body, redactor))

    needs_json = test.graphql or (test.ok_path is not None and not _is_header(test.ok_path))
    if body is MISSING and needs_json:
        return failed(
            OutcomeCode.PROVIDER_ERROR,
            f"{host} answered HTTP {status}, but not with the JSON the test expects.",
            None,
        )
    if test.graphql:
        if not isinstance(body, Mapping):
            return failed(
                OutcomeCode.PROVIDER_ERROR,
                f"{host} answered HTTP {status}, but not with a GraphQL response.",
                _error_sample(body, redactor),
            )
        errors = body.get("errors")
        if errors:
            listed = errors if isinstance(errors, list) else [errors]
            return failed(
                code_for_error_text(_error_texts(listed)),
                f"{host} answered the GraphQL query with errors.",
                [redactor.value(e) for e in listed[:SAMPLE_RECORDS]],
            )
    if test.ok_path is not None:
        if _is_header(test.ok_path):
            wanted = test.ok_path.split(":", 1)[1].lower()
            value: Any = next((v for k, v in response.headers.items() if k.lower() == wanted), None)
        else:
            value = dig(body, test.ok_path)
        if value is MISSING or not value:
            # Why it is false is in the error text, when there is one (Slack: "invalid_auth").
            code = OutcomeCode.PROVIDER_ERROR
            if body is not MISSING:
                code = code_for_error_text(_error_texts(body))
            return failed(
                code,
                f"{host} answered HTTP {status}, but '{test.ok_path}' in the answer is not "
                "set to a true value.",
                _error_sample(body, redactor),
            )
    sample = None if body is MISSING else sample_records(body, test.records_path, redactor)
    return ProbeOutcome(
        ok=True,
        code=OutcomeCode.OK,
        message=redactor.text(f"Connected to {host} (HTTP {status}).", limit=None),
        suggestion=None,
        http_status=status,
        latency_ms=latency,
        sample=sample,
    )


def _is_header(path: str) -> bool:
    return path.startswith("header:")

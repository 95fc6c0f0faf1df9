"""One action's calls to the provider, and what a refused call means to the caller.

:class:`ProviderCall` is what an action (declarative or a registered function) sees of its
connection: requests by path under the API base URL (or an absolute URL on the same origin,
such as Google's ``/upload/…`` paths) through the connection's sender, which carries the
auth (one refresh after a 401), the rate limit, the SSRF guard and the destination binding.
A non-2xx answer raises :class:`ActionFailed` with the code, message and suggestion a
connection test gives for that status (:mod:`tether.fetch.outcomes`); a request that got no
answer, the code of its failure. Nothing of the provider's body is in the error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tether.catalog.templates import join_url
from tether.domain.bounded_json import holds_lone_surrogate
from tether.domain.errors import TetherError
from tether.fetch.outcomes import OutcomeCode, code_for_status, describe_failure, suggestion_for
from tether.http.model import OutboundError, OutboundResponse

__all__ = ["ActionFailed", "ProviderCall", "Sender"]

Sender = Callable[..., OutboundResponse]
"""``send(method, url, *, params, json, content, headers)`` of one connection."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# How each outcome of a refused call answers the caller of the action.
_STATUS_OF: dict[OutcomeCode, int] = {
    OutcomeCode.NOT_FOUND: 404,
    OutcomeCode.RATE_LIMITED: 429,
    OutcomeCode.TIMEOUT: 504,
}


class ActionFailed(TetherError):
    """The provider refused the action, or could not be reached. ``code`` is a connection
    test's outcome code; ``details`` carry its ``suggestion`` and the ``provider_status``."""

    default_code: ClassVar[str] = "PROVIDER_ERROR"
    default_status: ClassVar[int] = 502

    @classmethod
    def of(
        cls,
        code: OutcomeCode,
        message: str,
        *,
        auth_kind: str,
        provider_status: int | None = None,
    ) -> ActionFailed:
        details: dict[str, Any] = {"suggestion": suggestion_for(code, auth_kind=auth_kind)}
        if provider_status is not None:
            details["provider_status"] = provider_status
        return cls(
            message,
            code=code.value,
            http_status=_STATUS_OF.get(code, 502),
            retryable=code in (OutcomeCode.RATE_LIMITED, OutcomeCode.TIMEOUT)
            or (provider_status or 0) >= 500,
            details=details,
        )


@dataclass
class ProviderCall:
    """The calls of one action run. ``ids`` makes request ids (a Meet link's ``requestId``)
    when the caller gave no ``idempotency_key``."""

    send: Sender
    base_url: str
    config: Mapping[str, Any]
    auth_kind: str
    idempotency_key: str | None = None
    ids: Callable[[], str] = field(default=lambda: "")
    calls: int = 0
    # Requests of a method that is not safe (RFC 9110 §9.2.1) answered with a 2xx: the
    # provider may have changed something, which a retry would change again.
    acted: int = 0

    def url(self, path: str) -> str:
        """``path`` under the base URL; an absolute path (``//``-less, from the origin's root)
        when it opens with ``//``: ``//upload/drive/v3/files``."""
        if path.startswith("//"):
            parts = urlsplit(self.base_url)
            return f"{parts.scheme}://{parts.netloc}{path[1:]}"
        return join_url(self.base_url, path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> OutboundResponse:
        """One request; the answer when it is a 2xx, :class:`ActionFailed` otherwise."""
        url = self.url(path)
        host = urlsplit(url).hostname or "the provider"
        self.calls += 1
        try:
            response = self.send(
                method, url, params=params, json=json, content=content, headers=headers
            )
        except OutboundError as error:
            code, message = describe_failure(error.failure, host)
            raise ActionFailed.of(code, message, auth_kind=self.auth_kind) from None
        if not 200 <= response.status < 300:
            raise ActionFailed.of(
                code_for_status(response.status),
                f"{host} refused the request (HTTP {response.status}).",
                auth_kind=self.auth_kind,
                provider_status=response.status,
            )
        if method.upper() not in _SAFE_METHODS:
            self.acted += 1
        return response

    def json(self, method: str, path: str, **options: Any) -> Any:
        """:meth:`request`, its answer as JSON (``None`` for an empty body)."""
        response = self.request(method, path, **options)
        if not response.content.strip():
            return None
        try:
            answer = response.json()
        except (ValueError, UnicodeDecodeError):
            raise ActionFailed.of(
                OutcomeCode.PROVIDER_ERROR,
                "The provider's answer is not JSON.",
                auth_kind=self.auth_kind,
                provider_status=response.status,
            ) from None
        # An action's output is stored (idempotency record), audited and answered: it must
        # be text every one of them can encode, so half a UTF-16 pair refuses the answer.
        if holds_lone_surrogate(answer, raw=response.content):
            raise ActionFailed.of(
                OutcomeCode.PROVIDER_ERROR,
                "The provider's answer is not valid Unicode (a lone UTF-16 surrogate escape).",
                auth_kind=self.auth_kind,
                provider_status=response.status,
            )
        return answer

    def json_object(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """:meth:`json` for a call whose answer is a JSON object (``{}`` for an empty body,
        which the output schema then judges); any other JSON is the provider's error, as a
        declarative action's non-object output is, not one made into an object."""
        answer = self.json(method, path, **options)
        if answer is None:
            return {}
        if not isinstance(answer, dict):
            raise ActionFailed.of(
                OutcomeCode.PROVIDER_ERROR,
                "The provider's answer is not a JSON object.",
                auth_kind=self.auth_kind,
            )
        return answer

"""The token endpoint client: authorization code exchange (RFC 6749 §4.1.3), refresh (§6), the
grants that issue from stored credentials (client credentials §4.4, JWT bearer RFC 7523) and
revocation (RFC 7009).

Hand-written rather than taken from a library: authlib (or requests-oauthlib) is not a
dependency, and what Tether needs is small and exact — RFC 6749's client authentication
(including the form-encoding of credentials before HTTP Basic that many clients skip), the
few provider deviations the catalog describes (JSON request bodies, form-encoded answers,
errors with status 200) and, above all, a classification of failures into retryable or not
(:mod:`tether.oauth.token_response`) that decides between "try again later" and "the user must
reconnect".

The HTTP client is injected: in production it is the outbound client with the SSRF guard;
in tests an ``httpx.Client`` over ``httpx.MockTransport``. Requests never follow redirects
(a redirected POST could carry the client secret elsewhere) and never send the client's
stored cookies (one client serves every tenant). The injected client should not keep cookies
either.

Nothing here logs or puts into an error message a token, code, verifier or secret; values
sent and received are also registered with :func:`tether.logs.register_secret`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import quote_plus, urlencode, urlsplit

import httpx

from tether.logs import register_secret
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.token_response import parse_error_response, parse_token_response

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "TokenEndpoint",
    "basic_authorization",
]

log = logging.getLogger("tether.oauth")

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RESPONSE_BYTES = 1 << 20


class TokenEndpoint:
    """Talks to a provider's token and revocation endpoints for one :class:`OAuthClient` at a
    time; stateless apart from the injected ``httpx.Client``, so one instance serves all.

    ``timeout`` (seconds) applies to each phase of a request (connect, write, each read);
    an answer over ``max_response_bytes`` (after content decoding) is a ``bad_response``.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if max_response_bytes <= 0:
            raise ValueError("max_response_bytes must be positive")
        self._http = http
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes

    def exchange_code(
        self,
        client: OAuthClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        now: datetime,
    ) -> TokenSet:
        """Exchange an authorization code (``grant_type=authorization_code``); the verifier
        is sent when given. Raises :class:`TokenEndpointError`."""
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            fields["code_verifier"] = code_verifier
        return self._token_request(client, fields, now=now, sent=(code, code_verifier))

    def refresh(
        self,
        client: OAuthClient,
        *,
        refresh_token: str,
        scopes: Sequence[str] | None = None,
        now: datetime,
    ) -> TokenSet:
        """Refresh (``grant_type=refresh_token``); ``scope`` is sent only when ``scopes`` is
        non-empty (asking for a subset). A response without ``refresh_token`` gives
        ``refresh_token=None``: the caller keeps the one it has. Raises
        :class:`TokenEndpointError`."""
        fields = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scopes:
            fields["scope"] = client.scope_separator.join(scopes)
        return self._token_request(client, fields, now=now, sent=(refresh_token,))

    def grant(
        self,
        client: OAuthClient,
        fields: Mapping[str, str],
        *,
        now: datetime,
        sent: Iterable[str | None] = (),
    ) -> TokenSet:
        """A token request of another grant (``client_credentials``, RFC 6749 §4.4.2; the
        JWT bearer grant, RFC 7523 §2.1): ``fields`` with ``grant_type``, client
        authentication per the client. No refresh token is kept from the answer: these
        grants issue again instead (§4.4.3). ``sent``: secret values among ``fields``."""
        tokens = self._token_request(client, dict(fields), now=now, sent=sent)
        if tokens.refresh_token is None:
            return tokens
        return dataclasses.replace(tokens, refresh_token=None)

    def revoke(
        self, client: OAuthClient, *, token: str, token_type_hint: str | None = None
    ) -> None:
        """Revoke a token (RFC 7009). Any 2xx is success — including for a token the provider
        does not know (§2.2). 503, 5xx, 429 and network failures raise a retryable
        :class:`TokenEndpointError`; ``unsupported_token_type`` and other OAuth errors a
        non-retryable one. :class:`ValueError` when the provider has no revocation URL."""
        if not client.revocation_url:
            raise ValueError("this provider has no revocation endpoint")
        fields = {"token": token}
        if token_type_hint is not None:
            fields["token_type_hint"] = token_type_hint
        status, headers, body = self._post(client, client.revocation_url, fields, sent=(token,))
        if 200 <= status < 300:
            return
        error = parse_error_response(
            status, headers, body, now=datetime.now(UTC), redact=self._redact(client, (token,))
        )
        self._log_failure(client.revocation_url, error)
        raise error

    # --- internals ---------------------------------------------------------------------------

    def _token_request(
        self,
        client: OAuthClient,
        fields: dict[str, str],
        *,
        now: datetime,
        sent: Iterable[str | None],
    ) -> TokenSet:
        status, headers, body = self._post(client, client.token_url, fields, sent=sent)
        try:
            tokens = parse_token_response(
                status,
                headers,
                body,
                now=now,
                default_lifetime_seconds=client.default_token_lifetime_seconds,
                redact=self._redact(client, sent),
            )
        except TokenEndpointError as error:
            self._log_failure(client.token_url, error)
            raise
        register_secret(tokens.access_token)
        if tokens.refresh_token:
            register_secret(tokens.refresh_token)
        return tokens

    def _post(
        self,
        client: OAuthClient,
        url: str,
        fields: Mapping[str, str],
        *,
        sent: Iterable[str | None],
    ) -> tuple[int, httpx.Headers, bytes]:
        headers = {"Accept": "application/json"}
        payload = dict(fields)
        method = client.token_auth_method
        if method == "none":
            pass  # the grant itself authenticates (RFC 7523 §2.1)
        elif client.client_secret and method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(client.client_id, client.client_secret)
        elif client.client_secret:
            payload["client_id"] = client.client_id
            payload["client_secret"] = client.client_secret
        else:  # a public client identifies itself in the body (RFC 6749 §2.3, §3.2.1)
            payload["client_id"] = client.client_id
        if client.token_request_format == "json":  # noqa: S105 - a format name
            content = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        else:
            content = urlencode(payload).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.send(
            "POST", url, content=content, headers=headers, sent=self._redact(client, sent)
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None,
        headers: Mapping[str, str],
        sent: Iterable[str],
    ) -> tuple[int, httpx.Headers, bytes]:
        """One request to a token-issuing endpoint, with this endpoint's rules (no redirects,
        no cookies, a bounded answer, transport failures as :class:`TokenEndpointError`):
        the answer's status, headers and body. ``sent``: the secret values in the request,
        registered for redaction first. Used as is by a declared token call
        (:mod:`tether.oauth.two_step`)."""
        for value in sent:
            register_secret(value)
        host = _host(url)
        try:
            request = self._http.build_request(
                method, url, content=content, headers=dict(headers), timeout=self._timeout
            )
        except (httpx.InvalidURL, ValueError) as exc:
            # httpx refuses some URLs urllib takes (``http://0177.0.0.1``): not retryable.
            error = TokenEndpointError(
                f"the endpoint address of {host} is not a valid URL",
                error="invalid_url",
                retryable=False,
            )
            self._log_failure(url, error)
            raise error from exc
        request.headers.pop("Cookie", None)
        try:
            response = self._http.send(request, stream=True, follow_redirects=False)
            try:
                body = self._read(response, host)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            error = TokenEndpointError(
                f"{host} did not answer within {self._timeout:g} s ({type(exc).__name__})",
                error="timeout",
                retryable=True,
            )
            self._log_failure(url, error)
            raise error from exc
        except httpx.TransportError as exc:
            error = TokenEndpointError(
                f"could not reach {host} ({type(exc).__name__})", error="network", retryable=True
            )
            self._log_failure(url, error)
            raise error from exc
        except TokenEndpointError as error:
            self._log_failure(url, error)
            raise
        return response.status_code, response.headers, body

    def _read(self, response: httpx.Response, host: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._max_response_bytes:
                    raise TokenEndpointError(
                        f"{host} answered more than {self._max_response_bytes} bytes",
                        error="bad_response",
                        retryable=False,
                        provider_status=response.status_code,
                    )
                chunks.append(chunk)
        except httpx.DecodingError as exc:
            raise TokenEndpointError(
                f"{host} answered a body that could not be decoded ({type(exc).__name__})",
                error="bad_response",
                retryable=False,
                provider_status=response.status_code,
            ) from exc
        return b"".join(chunks)

    @staticmethod
    def _redact(client: OAuthClient, sent: Iterable[str | None]) -> tuple[str, ...]:
        values = [value for value in sent if value]
        if client.client_secret:
            values.append(client.client_secret)
        return tuple(values)

    def log_failure(self, url: str, error: TokenEndpointError) -> None:
        """Log a failed request to ``url`` the way this endpoint logs its own: the host, the
        error code and status, never a value."""
        self._log_failure(url, error)

    @staticmethod
    def _log_failure(url: str, error: TokenEndpointError) -> None:
        log.info(
            "OAuth request to %s failed: %s (HTTP %s, retryable=%s)",
            _host(url),
            error.error,
            error.provider_status,
            error.retryable,
        )


def basic_authorization(client_id: str, client_secret: str) -> str:
    """``Authorization: Basic`` for client credentials per RFC 6749 §2.3.1: each of id and
    secret is form-urlencoded (Appendix B) before being joined with ``:`` and base64'd, so a
    ``:`` in the id or a ``+``/``%`` in the secret survives."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the provider"
    except ValueError:
        return "the provider"

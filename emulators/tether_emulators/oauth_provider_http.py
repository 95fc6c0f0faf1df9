"""The HTTP side of :mod:`tether_emulators.oauth_provider`: the WSGI application that parses
requests, applies test injections, records what it answered and calls the grant store.

Split out of ``oauth_provider`` only for size; see that module for what the provider
implements. Nothing here logs a token, a code or a secret.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from tether_emulators.oauth_provider_grants import (
    S256_CHALLENGE_RE,
    ClientSpec,
    OAuthError,
    TokenInfo,
    parse_scope,
)

if TYPE_CHECKING:
    from tether_emulators.oauth_provider import OAuthProvider

__all__ = [
    "API_ITEMS_PATH",
    "API_ME_PATH",
    "AUTHORIZE_PATH",
    "ENDPOINTS",
    "METADATA_PATH",
    "REVOKE_PATH",
    "TOKEN_PATH",
    "Endpoint",
    "Injection",
    "ProviderApp",
    "RequestRecord",
]

log = logging.getLogger("tether_emulators.oauth_provider")

Endpoint = Literal["authorize", "token", "revoke", "api"]
ENDPOINTS: frozenset[str] = frozenset({"authorize", "token", "revoke", "api"})
AUTHORIZE_PATH = "/authorize"
TOKEN_PATH = "/token"  # noqa: S105 - a URL path
REVOKE_PATH = "/revoke"
API_ME_PATH = "/api/me"
API_ITEMS_PATH = "/api/items"
METADATA_PATH = "/.well-known/oauth-authorization-server"
API_PAGE_SIZE = 10
REALM = "tether-oauth-emulator"
_TRUTHY = frozenset({"1", "true", "yes", "on"})


@dataclass
class Injection:
    """A canned answer for the next ``remaining`` requests to ``endpoint``.

    ``delay`` seconds pass first. Then, with ``status`` ``None`` or 0 the request is handled
    normally; otherwise the answer is ``status`` with ``body`` (JSON content type when it
    parses as JSON, text otherwise, unless ``content_type`` says), or ``{"error": error,
    "error_description": ...}`` when ``error`` is set, or a plain-text status line.
    ``retry_after`` adds a ``Retry-After`` header. With ``process_first`` the request is
    handled normally first (a refresh rotates, a code is spent) and the answer is then replaced:
    the response was lost on the way back. At ``/authorize``, ``error`` is answered the OAuth
    way, as a redirect to the (validated) redirect URI, and ``status`` is ignored.
    """

    endpoint: Endpoint
    status: int | None = 503
    error: str | None = None
    error_description: str | None = None
    remaining: int = 1
    delay: float = 0.0
    body: str | None = None
    content_type: str | None = None
    retry_after: str | None = None
    process_first: bool = False

    @property
    def answers(self) -> bool:
        """Whether the injection replaces the answer (rather than only delaying it)."""
        return bool(self.status) or (self.endpoint == "authorize" and self.error is not None)


@dataclass(frozen=True)
class RequestRecord:
    """One request the provider answered. ``auth_method`` is the client authentication method
    that succeeded (``client_secret_basic``, ``client_secret_post``, ``none``) or ``None``."""

    endpoint: str
    method: str
    path: str
    status: int
    at: float
    grant_type: str | None = None
    client_id: str | None = None
    auth_method: str | None = None
    error: str | None = None
    injected: bool = False


@dataclass
class Exchange:
    """What the handlers learn about a request, for its record."""

    grant_type: str | None = None
    client_id: str | None = None
    auth_method: str | None = None
    error: str | None = None


def _json_response(
    payload: Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    response = Response(
        json.dumps(payload), status=status, content_type="application/json;charset=UTF-8"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _oauth_error(error: OAuthError, endpoint: str) -> Response:
    headers: dict[str, str] = {}
    if error.status == HTTPStatus.UNAUTHORIZED and endpoint in {"token", "revoke"}:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
    return _json_response(
        {"error": error.error, "error_description": error.description}, error.status, headers
    )


def _error_page(error: str, description: str) -> Response:
    """The 400 answer of ``/authorize`` when it cannot trust the redirect URI."""
    text = (
        "<!doctype html><title>Authorization error</title>"
        f"<h1>{html.escape(error)}</h1><p>{html.escape(description)}</p>"
    )
    response = Response(text, status=400, content_type="text/html;charset=UTF-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _redirect(uri: str, params: Sequence[tuple[str, str]]) -> Response:
    """302 to ``uri`` with ``params`` added to its query (its own query is kept, §3.1.2)."""
    parts = urllib.parse.urlsplit(uri)
    added = urllib.parse.urlencode(list(params))
    query = f"{parts.query}&{added}" if parts.query else added
    location = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    response = Response(status=302)
    response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"
    return response


def _single_values(values: MultiDict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The parameters, and the names sent more than once (§3.1: they must not repeat)."""
    single: dict[str, str] = {}
    repeated: list[str] = []
    for name in values:
        found = values.getlist(name)
        single[name] = found[0]
        if len(found) > 1:
            repeated.append(name)
    return single, repeated


def _body_params(request: Request) -> dict[str, str]:
    """Form-encoded (or JSON) body parameters; ``invalid_request`` when they are unusable."""
    if request.mimetype == "application/json":
        try:
            payload = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_request", "the JSON body does not parse") from None
        if not isinstance(payload, dict) or not all(
            isinstance(value, str) for value in payload.values()
        ):
            raise OAuthError("invalid_request", "the JSON body must be an object of strings")
        return {str(name): str(value) for name, value in payload.items()}
    if request.mimetype not in {"application/x-www-form-urlencoded", ""}:
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    params, repeated = _single_values(request.form)
    if repeated:
        raise OAuthError("invalid_request", f"repeated parameters: {', '.join(repeated)}")
    return params


def _grant_type_of(request: Request) -> str | None:
    """The ``grant_type`` a token request names, for the counters, even when the request is
    otherwise unusable."""
    if request.mimetype == "application/json":
        try:
            payload = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            return None
        value = payload.get("grant_type") if isinstance(payload, dict) else None
        return value if isinstance(value, str) else None
    return request.form.get("grant_type")


def _default_body(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{status} {phrase}\n"


class ProviderApp:
    """The WSGI application, dispatching to the endpoints of its provider."""

    def __init__(self, provider: OAuthProvider) -> None:
        self._provider = provider
        self._routes: dict[str, tuple[str, frozenset[str], Callable[..., Response]]] = {
            AUTHORIZE_PATH: ("authorize", frozenset({"GET", "POST"}), self._authorize),
            TOKEN_PATH: ("token", frozenset({"POST"}), self._token),
            REVOKE_PATH: ("revoke", frozenset({"POST"}), self._revoke),
            API_ME_PATH: ("api", frozenset({"GET"}), self._api_me),
            API_ITEMS_PATH: ("api", frozenset({"GET"}), self._api_items),
            METADATA_PATH: ("metadata", frozenset({"GET"}), self._metadata),
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        route = self._routes.get(request.path)
        if route is None:
            return _json_response({"error": "not_found", "error_description": request.path}, 404)
        endpoint, methods, handler = route
        if request.method not in methods:
            response = _json_response(
                {
                    "error": "invalid_request",
                    "error_description": f"use {'/'.join(sorted(methods))}",
                },
                405,
            )
            response.headers["Allow"] = ", ".join(sorted(methods))
            return response

        provider = self._provider
        exchange = Exchange()
        keys = [endpoint]
        if endpoint == "token":
            exchange.grant_type = _grant_type_of(request)
            keys.append(f"token.{exchange.grant_type or 'missing'}")
        elif endpoint == "api":
            keys.append("api." + request.path.rsplit("/", 1)[-1])
        provider._count(*keys)

        injection = provider._take_injection(endpoint)
        if injection is not None and injection.delay > 0:
            provider._sleep(injection.delay)
        if injection is None or not injection.answers:
            response = handler(request, exchange, None)
        elif endpoint == "authorize" and injection.error is not None:
            response = handler(request, exchange, injection)
        else:
            if injection.process_first:
                handler(request, exchange, None)
            response = self._injected(endpoint, injection)
            exchange.error = injection.error
        provider._record(
            RequestRecord(
                endpoint=endpoint,
                method=request.method,
                path=request.path,
                status=response.status_code,
                at=time.time(),
                grant_type=exchange.grant_type,
                client_id=exchange.client_id,
                auth_method=exchange.auth_method,
                error=exchange.error,
                injected=injection is not None,
            )
        )
        return response

    @staticmethod
    def _injected(endpoint: str, injection: Injection) -> Response:
        status = injection.status or 503
        if injection.body is not None:
            content_type = injection.content_type
            if content_type is None:
                try:
                    json.loads(injection.body)
                    content_type = "application/json;charset=UTF-8"
                except ValueError:
                    content_type = "text/plain;charset=UTF-8"
            response = Response(injection.body, status=status, content_type=content_type)
        elif injection.error is not None:
            description = injection.error_description or "injected by the test"
            response = _json_response(
                {"error": injection.error, "error_description": description}, status
            )
        else:
            response = Response(
                _default_body(status),
                status=status,
                content_type=injection.content_type or "text/plain;charset=UTF-8",
            )
        response.headers["Cache-Control"] = "no-store"
        if injection.retry_after is not None:
            response.headers["Retry-After"] = injection.retry_after
        if status == HTTPStatus.UNAUTHORIZED:
            if endpoint == "api":
                code = injection.error or "invalid_token"
                response.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}", error="{code}"'
            elif endpoint in {"token", "revoke"}:
                response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return response

    # -- /authorize -----------------------------------------------------------------------

    def _authorize(
        self, request: Request, exchange: Exchange, injection: Injection | None
    ) -> Response:
        provider = self._provider
        settings = provider.settings
        issuer = settings.issuer if settings.issuer is not None else provider.url
        source = request.form if request.method == "POST" else request.args
        params, repeated = _single_values(source)

        client_id = params.get("client_id")
        if not client_id or "client_id" in repeated:
            exchange.error = "invalid_request"
            return _error_page("invalid_request", "client_id is missing or repeated")
        exchange.client_id = client_id
        client = provider.client(client_id)
        if client is None:
            exchange.error = "invalid_client"
            return _error_page("invalid_client", f"unknown client_id {client_id!r}")
        sent_redirect = params.get("redirect_uri")
        try:
            redirect_uri = self._redirect_uri(client, sent_redirect, "redirect_uri" in repeated)
        except OAuthError as error:
            exchange.error = error.error
            return _error_page(error.error, error.description)

        state = params.get("state")

        def answer(extra: list[tuple[str, str]]) -> Response:
            if state is not None:
                extra.append(("state", state))
            extra.append(("iss", issuer))
            return _redirect(redirect_uri, extra)

        def fail(error: str, description: str) -> Response:
            exchange.error = error
            return answer([("error", error), ("error_description", description)])

        if injection is not None and injection.error is not None:
            return fail(injection.error, injection.error_description or "injected by the test")
        if repeated:
            return fail("invalid_request", f"repeated parameters: {', '.join(repeated)}")
        response_type = params.get("response_type")
        if not response_type:
            return fail("invalid_request", "response_type is required")
        if response_type != "code":
            return fail("unsupported_response_type", "only response_type=code is supported")

        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                return fail("invalid_request", "code_challenge_method without code_challenge")
            if settings.require_pkce:
                return fail("invalid_request", "code_challenge is required (PKCE, S256)")
        elif method is None or method == "plain":
            # RFC 7636 §4.4.1: a missing method means plain, which this server refuses.
            return fail("invalid_request", "transform algorithm not supported: use S256")
        elif method != "S256":
            return fail("invalid_request", f"unknown code_challenge_method {method!r}")
        elif not S256_CHALLENGE_RE.fullmatch(challenge):
            return fail("invalid_request", "code_challenge is not a base64url SHA-256 digest")

        try:
            scope = parse_scope(params.get("scope"))
        except OAuthError as error:
            return fail(error.error, error.description)
        if client.scopes is not None:
            extra_scopes = [token for token in scope if token not in client.scopes]
            if extra_scopes:
                return fail("invalid_scope", f"scopes not allowed: {' '.join(extra_scopes)}")
            if not scope:
                scope = tuple(sorted(client.scopes))

        if params.get("deny", "").lower() in _TRUTHY:
            return fail("access_denied", "the user denied the request")

        code = provider._grants.create_code(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=sent_redirect is not None,
            challenge=challenge,
            scope=scope,
            subject=params.get("login_hint") or settings.subject,
            expires_at=provider.now() + settings.code_lifetime,
        )
        return answer([("code", code)])

    @staticmethod
    def _redirect_uri(client: ClientSpec, sent: str | None, repeated: bool) -> str:
        """The redirect URI to answer to, or ``invalid_request`` (answered as a 400 page)."""
        if repeated:
            raise OAuthError("invalid_request", "redirect_uri is repeated")
        registered = client.redirect_uris
        if registered is not None:
            if sent is None:
                if len(registered) == 1:
                    return registered[0]
                raise OAuthError("invalid_request", "redirect_uri is required")
            if sent not in registered:
                raise OAuthError("invalid_request", "redirect_uri is not registered for the client")
            return sent
        if sent is None:
            raise OAuthError("invalid_request", "redirect_uri is required")
        parts = urllib.parse.urlsplit(sent)
        if (
            not parts.scheme
            or "#" in sent
            or (parts.scheme in {"http", "https"} and not parts.netloc)
        ):
            raise OAuthError(
                "invalid_request", "redirect_uri must be an absolute URI without a fragment"
            )
        return sent

    # -- /token and /revoke ---------------------------------------------------------------

    def _authenticate(
        self, request: Request, params: Mapping[str, str], exchange: Exchange
    ) -> ClientSpec:
        """RFC 6749 §2.3.1 client authentication; ``invalid_client`` (401) when it fails."""
        header = request.headers.get("Authorization")
        basic: tuple[str, str] | None = None
        if header is not None:
            scheme, _, value = header.strip().partition(" ")
            if scheme.lower() != "basic":
                raise OAuthError("invalid_client", f"unsupported scheme {scheme!r}", 401)
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            raw_id, colon, raw_secret = decoded.partition(":")
            if not colon:
                raise OAuthError("invalid_client", "malformed Basic credentials", 401)
            # §2.3.1: both were application/x-www-form-urlencoded before being joined.
            basic = (urllib.parse.unquote_plus(raw_id), urllib.parse.unquote_plus(raw_secret))

        body_id = params.get("client_id")
        body_secret = params.get("client_secret")
        if basic is not None:
            if body_secret is not None:
                raise OAuthError("invalid_request", "more than one client authentication method")
            client_id, secret = basic
            if body_id is not None and body_id != client_id:
                raise OAuthError("invalid_client", "client_id differs from the Basic user", 401)
            method = "client_secret_basic"
        elif body_secret is not None:
            if not body_id:
                raise OAuthError("invalid_client", "client_secret without client_id", 401)
            client_id, secret, method = body_id, body_secret, "client_secret_post"
        elif body_id:
            client_id, secret, method = body_id, "", "none"
        else:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        exchange.client_id = client_id

        client = self._provider.client(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        if client.public:
            if secret:
                raise OAuthError("invalid_client", "a public client has no secret", 401)
        elif method == "none":
            raise OAuthError("invalid_client", "client authentication is required", 401)
        elif method not in client.auth_methods:
            raise OAuthError("invalid_client", f"{method} is not enabled for this client", 401)
        elif not client.secret_matches(secret):
            raise OAuthError("invalid_client", "wrong client credentials", 401)
        exchange.auth_method = method if not client.public else "none"
        return client

    def _token(self, request: Request, exchange: Exchange, injection: Injection | None) -> Response:
        provider = self._provider
        try:
            params = _body_params(request)
            client = self._authenticate(request, params, exchange)
            settings = provider.settings
            grant_type = params.get("grant_type")
            if not grant_type:
                raise OAuthError("invalid_request", "grant_type is required")
            if grant_type == "authorization_code":
                code = params.get("code")
                if not code:
                    raise OAuthError("invalid_request", "code is required")
                body = provider._grants.exchange_code(
                    client_id=client.client_id,
                    code=code,
                    redirect_uri=params.get("redirect_uri"),
                    code_verifier=params.get("code_verifier"),
                    settings=settings,
                    now=provider.now(),
                )
            elif grant_type == "refresh_token":
                refresh_token = params.get("refresh_token")
                if not refresh_token:
                    raise OAuthError("invalid_request", "refresh_token is required")
                scope = params.get("scope")
                body = provider._grants.refresh(
                    client_id=client.client_id,
                    refresh_token=refresh_token,
                    scope=parse_scope(scope) if scope else None,
                    settings=settings,
                    now=provider.now(),
                )
            else:
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r}")
        except OAuthError as error:
            exchange.error = error.error
            return _oauth_error(error, "token")
        return _json_response(body)

    def _revoke(
        self, request: Request, exchange: Exchange, injection: Injection | None
    ) -> Response:
        provider = self._provider
        try:
            params = _body_params(request)
            client = self._authenticate(request, params, exchange)
            token = params.get("token")
            if not token:
                raise OAuthError("invalid_request", "token is required")
            provider._grants.revoke(
                token, client_id=client.client_id, hint=params.get("token_type_hint")
            )
        except OAuthError as error:
            exchange.error = error.error
            return _oauth_error(error, "revoke")
        # §2.2: 200 whether or not the token was known (or already revoked).
        response = Response(b"", status=200)
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- the protected API ----------------------------------------------------------------

    def _bearer(self, request: Request, exchange: Exchange) -> TokenInfo | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # RFC 6750 §3.1: no error code when the request had no credentials.
            exchange.error = "missing_token"
            response = _json_response(
                {"error": "invalid_request", "error_description": "bearer token required"}, 401
            )
            response.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
            return response
        provider = self._provider
        info = provider._grants.info(token.strip(), provider.now())
        if info is None or info.kind != "access_token" or not info.active:
            reason = "unknown" if info is None or info.kind != "access_token" else info.state
            description = f"the access token is {reason}"
            exchange.error = "invalid_token"
            response = _json_response(
                {"error": "invalid_token", "error_description": description}, 401
            )
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'
            )
            return response
        exchange.client_id = info.client_id
        return info

    def _api_me(
        self, request: Request, exchange: Exchange, injection: Injection | None
    ) -> Response:
        info = self._bearer(request, exchange)
        if isinstance(info, Response):
            return info
        return _json_response(
            {
                "sub": info.subject,
                "client_id": info.client_id,
                "scope": " ".join(info.scope),
                "email": f"{info.subject}@example.test",
                "name": f"Emulated user {info.subject}",
                "exp": int(info.expires_at or 0),
            }
        )

    def _api_items(
        self, request: Request, exchange: Exchange, injection: Injection | None
    ) -> Response:
        info = self._bearer(request, exchange)
        if isinstance(info, Response):
            return info
        raw_page = request.args.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            exchange.error = "invalid_request"
            return _json_response(
                {"error": "invalid_request", "error_description": "page is a number from 1"}, 400
            )
        page = int(raw_page)
        total = self._provider.settings.api_items
        first = (page - 1) * API_PAGE_SIZE
        items = [
            {"id": f"item-{number}", "name": f"Item {number}", "owner": info.subject}
            for number in range(first + 1, min(first + API_PAGE_SIZE, total) + 1)
        ]
        more = first + API_PAGE_SIZE < total
        return _json_response(
            {"items": items, "page": page, "next_page": page + 1 if more else None, "total": total}
        )

    def _metadata(
        self, request: Request, exchange: Exchange, injection: Injection | None
    ) -> Response:
        provider = self._provider
        methods = ["client_secret_basic", "client_secret_post", "none"]
        response = _json_response(
            {
                "issuer": provider.issuer,
                "authorization_endpoint": provider.authorization_url,
                "token_endpoint": provider.token_url,
                "revocation_endpoint": provider.revocation_url,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": methods,
                "revocation_endpoint_auth_methods_supported": methods,
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )
        response.headers["Cache-Control"] = "public, max-age=60"
        del response.headers["Pragma"]
        return response

"""Access tokens issued from a connection's stored credentials, for the auth modes of
:mod:`tether.catalog.token_grants`: the client credentials grant, the JWT bearer grant and a
``two_step`` entry's first call.

:meth:`TokenIssuer.issue` is what the token refresh calls instead of a refresh-token grant
when such a connection's token is due, forced, or refused with a 401 (the lease, the commit
and the audit entry are the refresh's: :mod:`tether.oauth.refresh`), and what a test of
unsaved credentials calls directly. The answer never carries a refresh token: these modes
issue again. :func:`issued_token_client` is the client that revokes such a token
where the entry has a revocation endpoint (RFC 7009): :func:`issued_token_client`; a
``two_step`` session ends with the entry's sign-out call (:meth:`TokenIssuer.sign_out_for`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tether.catalog.schema import Provider
from tether.catalog.templates import render_template
from tether.catalog.token_grants import ClientCredentialsAuth, JwtBearerAuth, TwoStepAuth
from tether.domain.clock import Clock
from tether.domain.errors import InvalidRequest
from tether.http.url_check import check_http_url
from tether.oauth.client_credentials import client_credentials_client, client_credentials_fields
from tether.oauth.jwt_bearer import jwt_bearer_request
from tether.oauth.model import OAuthClient, TokenEndpointError, TokenSet
from tether.oauth.token_endpoint import TokenEndpoint
from tether.oauth.token_response import parse_error_response
from tether.oauth.two_step import parse_token_answer, token_call

__all__ = ["TokenIssuer", "issued_token_client"]


class TokenIssuer:
    """``endpoint``: the token endpoint, or a factory of it built on first use."""

    def __init__(
        self, *, endpoint: TokenEndpoint | Callable[[], TokenEndpoint], clock: Clock
    ) -> None:
        self._endpoint_source = endpoint
        self._clock = clock

    def _endpoint(self) -> TokenEndpoint:
        source = self._endpoint_source
        return source if isinstance(source, TokenEndpoint) else source()

    def issue(
        self, provider: Provider, config: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> TokenSet:
        """A new access token. Raises :class:`TokenEndpointError` when the provider refuses
        or cannot be reached, :class:`InvalidRequest` for a missing credential or config."""
        auth = provider.auth
        now = self._clock.now()
        config = provider.config_with_defaults(config)
        if isinstance(auth, ClientCredentialsAuth):
            client = client_credentials_client(auth, config, credentials)
            fields = client_credentials_fields(auth, config)
            return self._endpoint().grant(client, fields, now=now)
        if isinstance(auth, JwtBearerAuth):
            client, fields = jwt_bearer_request(auth, config, credentials, now=now)
            return self._endpoint().grant(client, fields, now=now, sent=(fields["assertion"],))
        if isinstance(auth, TwoStepAuth):
            call = token_call(auth, config, credentials)
            status, headers, body = self._endpoint().send(
                call.method, call.url, content=call.content, headers=call.headers, sent=call.secrets
            )
            try:
                return parse_token_answer(auth, status, headers, body, now=now, redact=call.secrets)
            except TokenEndpointError as error:
                self._endpoint().log_failure(call.url, error)
                raise
        raise InvalidRequest(
            f"{provider.display_name} does not issue tokens from stored credentials",
            code="NOT_ISSUED_TOKEN_PROVIDER",
        )

    def sign_out_for(
        self, provider: Provider, config: Mapping[str, Any]
    ) -> Callable[[str], None] | None:
        """What ends a ``two_step`` session of this entry (its ``sign_out`` call, the token
        in the header API calls carry it); ``None`` when the entry has none. The sender
        raises :class:`TokenEndpointError` unless the answer is a 2xx, or a 401 (the session
        is already over)."""
        auth = provider.auth
        if not isinstance(auth, TwoStepAuth) or auth.sign_out is None:
            return None
        call = auth.sign_out
        url = check_http_url(
            render_template(call.url, provider.config_with_defaults(config)),
            field="sign_out.url",
        )

        def sign_out(token: str) -> None:
            headers = {"Accept": "application/json", auth.token_header: auth.token_prefix + token}
            endpoint = self._endpoint()
            status, answer_headers, body = endpoint.send(
                call.method, url, content=None, headers=headers, sent=(token,)
            )
            if 200 <= status < 300 or status == 401:
                return
            error = parse_error_response(
                status, answer_headers, body, now=self._clock.now(), redact=(token,)
            )
            endpoint.log_failure(url, error)
            raise error

        return sign_out


def issued_token_client(
    provider: Provider,
    config: Mapping[str, Any],
    credentials: Mapping[str, Any],
    *,
    now: datetime,
) -> OAuthClient:
    """The client of a connection of an issued-token mode, for revoking its token (RFC 7009;
    ``revocation_url`` is ``None`` when the entry has no revocation endpoint)."""
    auth = provider.auth
    config = provider.config_with_defaults(config)
    if isinstance(auth, ClientCredentialsAuth):
        return client_credentials_client(auth, config, credentials)
    if isinstance(auth, JwtBearerAuth) and auth.revocation_url is not None:
        client, _ = jwt_bearer_request(auth, config, credentials, now=now)
        return client
    return OAuthClient(client_id="", client_secret=None, authorization_url="", token_url="")

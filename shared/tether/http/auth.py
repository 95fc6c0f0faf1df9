"""How outbound requests carry a connection's credentials (the :class:`RequestAuth` shapes).

Each implementation adds its credential to the headers or query parameters of one attempt
(the client calls :meth:`apply` again before every attempt, so a refreshed token is used at
once), lists every value it may put on the wire in :meth:`secrets` (the client redacts those
from URLs, errors and logs), and says in :meth:`refresh` whether a 401 is worth one retry.

Only :class:`CallbackBearerAuth` can refresh: the OAuth2 token lifecycle owns the token and
its refresh; this module only asks for it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING

from tether.http.model import RequestAuth

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "CallbackBearerAuth",
    "HeaderApiKey",
    "QueryApiKey",
    "RequestAuth",
]


class BearerAuth:
    """A static token in ``Authorization: Bearer <token>`` (header and prefix configurable)."""

    def __init__(
        self, token: str, *, header: str = "Authorization", prefix: str = "Bearer "
    ) -> None:
        self._token = token
        self._header = header
        self._prefix = prefix

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        headers[self._header] = f"{self._prefix}{self._token}"

    def secrets(self) -> list[str]:
        return [self._token]

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"BearerAuth(header={self._header!r})"


class HeaderApiKey:
    """An API key in a header: ``<name>: <prefix><value>`` (e.g. ``X-API-Key``, or
    ``Authorization`` with prefix ``"Token "``)."""

    def __init__(self, name: str, value: str, prefix: str = "") -> None:
        self._name = name
        self._value = value
        self._prefix = prefix

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        headers[self._name] = f"{self._prefix}{self._value}"

    def secrets(self) -> list[str]:
        return [self._value]

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"HeaderApiKey(name={self._name!r})"


class QueryApiKey:
    """An API key in the query string: ``?<name>=<value>``."""

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        params[self._name] = self._value

    def secrets(self) -> list[str]:
        return [self._value]

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"QueryApiKey(name={self._name!r})"


class BasicAuth:
    """HTTP Basic: ``Authorization: Basic base64(username:password)``. The password and the
    encoded header value are secrets; the username is not, unless ``secret_username`` (an API
    key sent as the user name with an empty password)."""

    def __init__(self, username: str, password: str, *, secret_username: bool = False) -> None:
        self._username = username
        self._password = password
        self._secret_username = secret_username
        raw = f"{username}:{password}".encode()
        self._encoded = base64.b64encode(raw).decode("ascii")

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        headers["Authorization"] = f"Basic {self._encoded}"

    def secrets(self) -> list[str]:
        found = [self._password, self._encoded]
        return [self._username, *found] if self._secret_username else found

    def refresh(self) -> bool:
        return False

    def __repr__(self) -> str:
        shown = "'***'" if self._secret_username else repr(self._username)
        return f"BasicAuth(username={shown})"


class CallbackBearerAuth:
    """An OAuth2 access token from the token lifecycle.

    ``get_token()`` returns a valid access token (refreshing ahead of expiry as the lifecycle
    sees fit); ``refresh()`` forces a new one after the provider answered 401 and returns it,
    or ``None`` when no new token could be obtained. Once refreshed, the new token is used
    for the following attempts. ``header`` and ``token_prefix`` cover providers that want
    something other than ``Authorization: Bearer``.
    """

    def __init__(
        self,
        get_token: Callable[[], str],
        refresh: Callable[[], str | None],
        *,
        header: str = "Authorization",
        token_prefix: str = "Bearer ",  # noqa: S107 - a header prefix, not a secret
    ) -> None:
        self._get_token = get_token
        self._refresh = refresh
        self._header = header
        self._prefix = token_prefix
        self._current: str | None = None
        self._seen: list[str] = []

    def _remember(self, token: str) -> None:
        if token and token not in self._seen:
            self._seen.append(token)

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> None:
        token = self._current or self._get_token()
        self._remember(token)
        headers[self._header] = f"{self._prefix}{token}"

    def secrets(self) -> list[str]:
        return list(self._seen)

    def refresh(self) -> bool:
        token = self._refresh()
        if not token:
            return False
        self._remember(token)
        self._current = token
        return True

    def __repr__(self) -> str:
        return f"CallbackBearerAuth(header={self._header!r})"


if TYPE_CHECKING:  # mypy checks every implementation against the protocol
    _IMPLEMENTATIONS: tuple[type[RequestAuth], ...] = (
        BasicAuth,
        BearerAuth,
        CallbackBearerAuth,
        HeaderApiKey,
        QueryApiKey,
    )

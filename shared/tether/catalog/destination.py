"""Where a connection's credentials can go: its *destination*, derived from catalog and config.

A credential is bound to the places it was given for. For an HTTP provider those are the
origins (RFC 6454: scheme, host, port) of every URL the credentials or tokens are sent to:
the API base URL, the test URL, for OAuth the token and revocation endpoints (and the issuer
of an entry that discovers them), and a two-step entry's token request. The
authorization URL is not one of them: the browser goes there with nothing secret. A provider
that is not HTTP (PostgreSQL) names the config properties that locate its server in the
catalog's ``destination_config``.

Two configs with the same destination may exchange freely (a new path, a new realm id in a
path, a new API version); a change of destination needs the credentials again in the same
request, and the outbound client never attaches credentials to an origin outside it. Pure
functions of the catalog entry and the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.catalog.templates import is_absolute_url, join_url, render_template
from tether.domain.errors import InvalidRequest
from tether.http.origin import origin_of

if TYPE_CHECKING:
    from tether.catalog.schema import Provider

__all__ = ["Destination", "destination_of"]

# The URL templates whose targets receive credentials or tokens.
_CREDENTIAL_URLS = (
    "api_base_url",
    "auth.token_url",
    "auth.revocation_url",
    "auth.token_request.url",
    "auth.sign_out.url",
    "test.path",
)


@dataclass(frozen=True)
class Destination:
    """``origins``: ``scheme://host:port`` (:func:`~tether.http.origin.origin_of`) of every
    credential-bearing URL that renders; ``unresolved``: such URLs that do not render with
    this config (a missing value); ``endpoints``: the ``destination_config`` values of a
    provider that is not HTTP."""

    origins: frozenset[str]
    unresolved: frozenset[str]
    endpoints: tuple[tuple[str, str], ...]

    def changed_parts(self, other: Destination) -> list[str]:
        """What differs from ``other``, for messages: origins and endpoint names (config is
        not secret, so origins may be shown)."""
        parts = sorted(self.origins ^ other.origins) + sorted(self.unresolved ^ other.unresolved)
        mine, theirs = dict(self.endpoints), dict(other.endpoints)
        parts += sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        return parts


def _rendered(provider: Provider, where: str, config: Mapping[str, Any]) -> str | None:
    template = provider.url_templates.get(where)
    if template is None:
        return None
    url = render_template(template, config)
    if where == "test.path" and not is_absolute_url(url):
        return join_url(provider.render_api_base_url(config), url)
    return url


def destination_of(provider: Provider, config: Mapping[str, Any]) -> Destination:
    """The destination of a connection of ``provider`` with ``config`` (defaults filled in)."""
    filled = provider.config_with_defaults(config)
    origins: set[str] = set()
    unresolved: set[str] = set()
    wheres = list(_CREDENTIAL_URLS)
    if getattr(provider.auth, "discovery", False):
        # The endpoints come from the issuer's metadata: moving the issuer moves them.
        wheres.append("auth.issuer")
    for where in wheres:
        try:
            url = _rendered(provider, where, filled)
        except InvalidRequest:
            unresolved.add(where)
            continue
        if url is None:
            continue
        origin = origin_of(url)
        if origin is None:
            unresolved.add(where)
        else:
            origins.add(origin)
    endpoints = tuple(
        (name, str(filled[name]) if name in filled else "") for name in provider.destination_config
    )
    return Destination(frozenset(origins), frozenset(unresolved), endpoints)

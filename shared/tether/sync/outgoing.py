"""A sync's outgoing page request, and where the modified-since value goes in it.

:class:`OutgoingRequest` is fetch's :class:`~tether.http.pagination.PageRequest` (URL, query
parameters, JSON body, which pagination advances) plus the headers a sync adds.
:func:`with_modified_since` puts an incremental run's value where ``Incremental.param_in``
says: a query parameter, a header, or a dotted path of the JSON body (objects on the way are
created; a non-object on the way is an error in the definition).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tether.catalog.sync_definition import Incremental
from tether.http.pagination import PageRequest

__all__ = ["OutgoingRequest", "set_body_path", "with_modified_since"]


@dataclass(frozen=True)
class OutgoingRequest:
    """One page's request as a sync sends it."""

    page: PageRequest
    headers: Mapping[str, str] = field(default_factory=dict)


def set_body_path(body: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at dotted ``path`` (objects copied on the way)."""
    head, dot, rest = path.partition(".")
    copied = dict(body)
    if not dot:
        copied[head] = value
        return copied
    inner = copied.get(head, {})
    if not isinstance(inner, Mapping):
        raise ValueError(f"the body's '{head}' is not an object, so '{path}' cannot be set")
    copied[head] = set_body_path(inner, rest, value)
    return copied


def with_modified_since(
    request: OutgoingRequest, incremental: Incremental, value: str
) -> OutgoingRequest:
    """``request`` with the formatted modified-since ``value`` in place."""
    if incremental.param_in == "header":
        return replace(request, headers={**request.headers, incremental.param: value})
    page = request.page
    if incremental.param_in == "query":
        page = replace(page, params={**page.params, incremental.param: value})
    else:
        if not isinstance(page.body, Mapping):
            raise ValueError("the modified-since value goes in the body, which is not an object")
        page = replace(page, body=set_body_path(page.body, incremental.param, value))
    return replace(request, page=page)

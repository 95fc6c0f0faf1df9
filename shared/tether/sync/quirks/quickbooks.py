"""QuickBooks Online reads lists through one query statement,
``GET /v3/company/<realm>/query?query=SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >=
'2024-06-01T00:00:00Z' STARTPOSITION 1 MAXRESULTS 1000``
(https://developer.intuit.com/app/developer/qbo/docs/learn/explore-the-quickbooks-online-api/data-queries).
The sync pages it with fetch's offset pagination (``offset_param: startposition``,
``limit_param: maxresults``) and places its modified-since value as the query parameter named
by ``incremental.param`` (``Metadata.LastUpdatedTime``); this hook folds those parameters into
the statement: a ``WHERE`` (or ``AND``) term before any ``ORDERBY``, then ``STARTPOSITION``
(1-based: the offset plus one) and ``MAXRESULTS``. Offset paging is only stable over a fixed
order, so the catalog's statements end in ``ORDERBY Id``."""

from __future__ import annotations

import re
from dataclasses import replace

from tether.catalog.sync_definition import SyncDefinition
from tether.http.pagination import OffsetPagination
from tether.sync.outgoing import OutgoingRequest

__all__ = ["query_statement"]

_QUERY_PARAM = "query"
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)
_ORDERBY = re.compile(r"\s+orderby\b", re.IGNORECASE)
_PAGING = re.compile(r"\b(startposition|maxresults)\b", re.IGNORECASE)


def query_statement(request: OutgoingRequest, definition: SyncDefinition) -> OutgoingRequest:
    """Fold the modified-since value and the offset pagination into ``query``."""
    params = dict(request.page.params)
    statement = params.get(_QUERY_PARAM)
    if not statement:
        raise ValueError("the QuickBooks sync needs a 'query' parameter (SELECT * FROM <Entity>)")
    if _PAGING.search(statement):
        raise ValueError("the query statement leaves STARTPOSITION and MAXRESULTS to the sync")
    incremental = definition.incremental
    if incremental is not None and incremental.param in params:
        value = params.pop(incremental.param)
        if "'" in value or "\\" in value:
            raise ValueError("a modified-since value holds no quote or backslash")
        order = _ORDERBY.search(statement)
        cut = len(statement) if order is None else order.start()
        head, tail = statement[:cut], statement[cut:]
        joiner = "AND" if _WHERE.search(head) else "WHERE"
        statement = f"{head} {joiner} {incremental.param} >= '{value}'{tail}"
    pagination = definition.pagination
    if isinstance(pagination, OffsetPagination):
        offset = int(params.pop(pagination.offset_param, "0"))
        statement = f"{statement} STARTPOSITION {offset + 1}"
        if pagination.limit_param is not None:
            statement = f"{statement} MAXRESULTS {params.pop(pagination.limit_param)}"
    params[_QUERY_PARAM] = statement
    return replace(request, page=replace(request.page, params=params))

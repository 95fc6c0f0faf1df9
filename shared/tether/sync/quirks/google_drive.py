"""Google Drive's ``files.list`` has no modified-since parameter: the filter is a term of the
``q`` search expression, ``modifiedTime > '2012-06-04T12:00:00'`` (RFC 3339, in single quotes;
https://developers.google.com/drive/api/guides/search-files). The sync places its
modified-since value as ``q`` (``incremental.param: q``); this hook turns it into that term,
joined with ``and`` to a ``q`` the definition sends on every run."""

from __future__ import annotations

from dataclasses import replace

from tether.catalog.sync_definition import SyncDefinition
from tether.sync.outgoing import OutgoingRequest

__all__ = ["modified_time_query"]


def modified_time_query(request: OutgoingRequest, definition: SyncDefinition) -> OutgoingRequest:
    """``q`` = ``[(<static q>) and ]modifiedTime > '<value>'`` on an incremental run."""
    incremental = definition.incremental
    if incremental is None or incremental.param_in != "query":
        return request
    params = dict(request.page.params)
    value = params.get(incremental.param)
    static = definition.request.params.get(incremental.param)
    static_q = None if static is None else str(static)
    if value is None or value == static_q:
        return request  # a full run: the definition's own q, if any, as it is
    if "'" in value or "\\" in value:
        raise ValueError("a modified-since value holds no quote or backslash")
    term = f"modifiedTime > '{value}'"
    params[incremental.param] = f"({static_q}) and {term}" if static_q else term
    return replace(request, page=replace(request.page, params=params))

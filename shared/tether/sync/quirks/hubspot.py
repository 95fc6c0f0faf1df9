"""HubSpot CRM search (``POST /crm/v3/objects/<type>/search``) filters by a property inside
``filterGroups``, not by a parameter:
``{"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
"value": "1700000000000"}]}]}``
(https://developers.hubspot.com/docs/api/crm/search). The sync places its modified-since value
at the body key named by ``incremental.param`` (the property's name); this hook moves it into a
filter group of its own, which is ANDed with nothing else the definition sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from tether.catalog.sync_definition import SyncDefinition
from tether.sync.outgoing import OutgoingRequest

__all__ = ["search_filter"]


def search_filter(request: OutgoingRequest, definition: SyncDefinition) -> OutgoingRequest:
    """The body key ``incremental.param`` becomes a ``GTE`` filter on that property."""
    incremental = definition.incremental
    body = request.page.body
    if incremental is None or not isinstance(body, Mapping) or incremental.param not in body:
        return request
    rest = {key: value for key, value in body.items() if key != incremental.param}
    condition = {
        "propertyName": incremental.param,
        "operator": "GTE",
        "value": str(body[incremental.param]),
    }
    groups = rest.get("filterGroups") or [{"filters": []}]
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise ValueError("the search body's filterGroups is not a list of objects")
    # Every group must hold the condition: HubSpot ORs the groups together.
    rest["filterGroups"] = [
        {**group, "filters": [*list(group.get("filters") or []), condition]} for group in groups
    ]
    return replace(request, page=replace(request.page, body=rest))

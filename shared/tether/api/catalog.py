"""HTTP routes of the public ``catalog`` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Request, Response

from tether.api.endpoint import Call, Wiring, serve
from tether.api.parsing import parse_query
from tether.api.responses import body_response
from tether.api.routing import Router
from tether.api.schemas import ProviderDetail, ProviderList, ProviderSummary
from tether.catalog import Provider
from tether.connections.commands import CatalogQuery

if TYPE_CHECKING:
    from tether.catalog import Catalog

__all__ = ["Services", "handle", "router"]


@dataclass(frozen=True, slots=True)
class Services:
    """What these routes use: the catalog, loaded on first use."""

    catalog: Callable[[], Catalog]


_CACHE = {"Cache-Control": "public, max-age=300"}


def summary(provider: Provider) -> ProviderSummary:
    return ProviderSummary(
        key=provider.key,
        display_name=provider.display_name,
        description=provider.description,
        auth_mode=provider.auth_mode,
        categories=list(provider.categories),
        regions=list(provider.regions),
        docs_url=provider.docs_url,
        webhooks=provider.webhook is not None and provider.webhook.scheme != "none",
    )


def detail(provider: Provider) -> ProviderDetail:
    entry = provider.model_dump(mode="json", exclude_none=True)
    entry.update(summary(provider).model_dump(mode="json"))
    return ProviderDetail(entry)


def list_(call: Call[Services]) -> Response:
    query = parse_query(call.request.args, CatalogQuery)
    providers = call.services.catalog().search(
        q=query.q, category=query.category, auth_mode=query.auth_mode, region=query.region
    )
    return body_response(ProviderList(providers=[summary(p) for p in providers]), headers=_CACHE)


def get(call: Call[Services]) -> Response:
    return body_response(detail(call.services.catalog().get(call.params["key"])), headers=_CACHE)


router: Router[Services] = Router()
router.add("GET", "/", list_, public=True)
router.add("GET", "/:key", get, public=True)


def handle(request: Request, wiring: Wiring[Services]) -> Response:
    return serve("catalog", request, router, wiring)

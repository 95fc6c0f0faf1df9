"""Bodies of the public ``catalog`` function."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from tether.api.schemas.body import Body

__all__ = ["ProviderDetail", "ProviderList", "ProviderSummary"]


class ProviderSummary(Body):
    key: str
    display_name: str
    description: str
    auth_mode: str
    categories: list[str]
    regions: list[str]
    docs_url: str
    webhooks: bool = Field(description="whether the provider sends webhooks Tether verifies")


class ProviderList(Body):
    providers: list[ProviderSummary]


class ProviderDetail(RootModel[dict[str, Any]]):
    """A catalog entry as the catalog declares it (null fields left out) with the summary's
    fields; its schema is the catalog's own ``Provider`` schema plus those fields."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        from tether.catalog import Provider

        schema: dict[str, Any] = handler(Provider.__pydantic_core_schema__)
        target = handler.resolve_ref_schema(schema)
        summary = handler(ProviderSummary.__pydantic_core_schema__)
        extra = handler.resolve_ref_schema(summary)["properties"]
        target["properties"] = {**target["properties"], **extra}
        return schema

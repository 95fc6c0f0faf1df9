"""Validated inputs of the connection services (what an HTTP body or query parses into)."""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tether.domain.status import ConnectionStatus

__all__ = [
    "END_USER_ID",
    "CatalogQuery",
    "CreateConnection",
    "InputModel",
    "ListConnections",
    "StartOAuth",
    "UpdateConnection",
]

_MAX_METADATA_BYTES = 16 * 1024
_MAX_CONFIG_BYTES = 64 * 1024
_PROVIDER_KEY = r"^[a-z][a-z0-9_]{0,63}$"
# A tenant's own id for one of its users: opaque to Tether, printable, bounded.
END_USER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@|+-]{0,199}$"


def _bounded(value: dict[str, Any] | None, limit: int, what: str) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value, default=str)) > limit:
        raise ValueError(f"{what} is larger than {limit // 1024} KiB")
    return value


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class _NewConnection(InputModel):
    """What a new connection is made of (plain ``POST /connections`` or an OAuth start)."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    credentials: dict[str, Any] = Field(default_factory=dict, repr=False)
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    notify_url: str | None = Field(default=None, max_length=2000)

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _bounded(value, _MAX_METADATA_BYTES, "metadata") or {}

    @field_validator("config")
    @classmethod
    def _config_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _bounded(value, _MAX_CONFIG_BYTES, "config") or {}


class CreateConnection(_NewConnection):
    provider: str = Field(pattern=_PROVIDER_KEY)
    # The end user it belongs to; a connect session's bearer may omit it (its own is used)
    # and may name no other.
    end_user_id: str | None = Field(default=None, pattern=END_USER_ID)


class UpdateConnection(InputModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    # "" clears the per-connection notify URL (null leaves it as it is, like every field here).
    notify_url: str | None = Field(default=None, max_length=2000)
    credentials: dict[str, Any] | None = Field(default=None, repr=False)
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _bounded(value, _MAX_METADATA_BYTES, "metadata")

    @field_validator("config")
    @classmethod
    def _config_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _bounded(value, _MAX_CONFIG_BYTES, "config")

    @model_validator(mode="after")
    def _something(self) -> "UpdateConnection":
        if not self.model_fields_set:
            raise ValueError(
                "nothing to change: send display_name, config, metadata or credentials"
            )
        return self


class ListConnections(InputModel):
    status: ConnectionStatus | None = None
    provider: str | None = Field(default=None, pattern=_PROVIDER_KEY)
    end_user_id: str | None = Field(default=None, pattern=END_USER_ID)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=512)


class CatalogQuery(InputModel):
    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=50)
    auth_mode: str | None = Field(default=None, max_length=50)
    region: str | None = Field(default=None, max_length=20)


class StartOAuth(_NewConnection):
    """``oauth_start``: a new connection (``provider`` …) or a reconnect (``connection_id``)."""

    provider: str | None = Field(default=None, pattern=_PROVIDER_KEY)
    connection_id: str | None = Field(default=None, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=100)
    return_to: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _one_target(self) -> "StartOAuth":
        if (self.provider is None) == (self.connection_id is None):
            raise ValueError("give either provider (a new connection) or connection_id")
        if self.connection_id is not None and (self.config or self.credentials):
            raise ValueError("a reconnect keeps the connection's config and credentials")
        return self

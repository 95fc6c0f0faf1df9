"""What every response body is: :class:`Body` (the JSON a route sends, ``None`` fields kept
or left out as the model says), times as ISO 8601 with ``Z`` (:data:`UtcTime`), the error
body.
"""

# No `from __future__ import annotations`: pydantic would compile every annotation of these
# models back from its text as each class is created, a cost paid on every cold start.

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from tether.domain.clock import iso_utc

__all__ = ["Body", "ErrorBody", "ErrorDetail", "UtcTime"]


UtcTime = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Body(BaseModel):
    """A response body. ``omitted_when_none``: fields left out of the JSON when ``None``."""

    # defer_build: a function builds the validators of the bodies it sends, on first use.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for name in self.omitted_when_none:
            if data.get(name) is None:
                data.pop(name, None)
        return data


class ErrorDetail(Body):
    omitted_when_none = frozenset({"details"})

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(Body):
    error: ErrorDetail

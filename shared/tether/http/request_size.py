"""How large a provider request's parameters and body may be, wherever a caller writes one:
a fetch (:class:`~tether.fetch.service.FetchRequest`) and a sync definition's request
(:class:`~tether.catalog.sync_definition.SyncRequest`). Each page's request carries them, and
a fetch's cursor or a run's checkpoint holds the next one."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_BODY_BYTES", "MAX_PARAMS_BYTES", "check_body_size", "check_params_size"]

MAX_PARAMS_BYTES = 16 * 1024
MAX_BODY_BYTES = 32 * 1024


def check_params_size(params: Any) -> None:
    """``ValueError`` (a validator's refusal) when the parameters' JSON passes the limit."""
    if len(json.dumps(params)) > MAX_PARAMS_BYTES:
        raise ValueError(f"the parameters are larger than {MAX_PARAMS_BYTES // 1024} KiB")


def check_body_size(body: Any) -> None:
    """``ValueError`` (a validator's refusal) when the body's JSON passes the limit."""
    if len(json.dumps(body, default=str)) > MAX_BODY_BYTES:
        raise ValueError(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")

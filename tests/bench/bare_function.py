"""The cold-start and throughput baseline: the smallest useful functions-framework function."""

from __future__ import annotations

from typing import Any

import functions_framework
from flask import Request


@functions_framework.http
def bare(request: Request) -> tuple[dict[str, Any], int]:
    return {"ok": True}, 200

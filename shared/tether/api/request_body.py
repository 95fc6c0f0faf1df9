"""The raw body of a request, refused with 413 past a size limit.

A declared ``Content-Length`` over the limit is refused before anything is read; otherwise at
most one byte more than the limit is read, so a body without a declared length (chunked) is
refused without holding more than the limit in memory. No JSON parsing here: the public
webhook function reads its raw body with this and nothing else (cold start).
"""

from __future__ import annotations

from flask import Request

from tether.domain.errors import PayloadTooLarge

__all__ = ["read_body"]


def read_body(request: Request, *, max_bytes: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    raw: bytes = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    return raw

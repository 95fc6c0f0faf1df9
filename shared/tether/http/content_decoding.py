"""A response body's content codings (RFC 9110 §8.4) undone a bounded piece at a time.

httpx inflates each read of the raw body in one call: a 64 KiB read of a gzip body can become
64 MiB at once, and with the coding applied twice (``Content-Encoding: gzip, gzip``) a body of
a few hundred bytes becomes gigabytes before any size check sees a byte. Here every layer
hands on at most ``piece`` bytes per step (zlib's ``max_length``), so whoever counts the
decoded bytes stops a bomb at its cap with no more than a few pieces in memory.

The codings are httpx's own without the optional ones: ``gzip``, ``deflate`` (zlib-wrapped, or
raw as some servers send it) and ``identity``. Like httpx, a coding it does not know is left
as it is. A body that is not what its coding says raises :class:`httpx.DecodingError`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import httpx

__all__ = ["DECODED_CODINGS", "decoded_body"]

DECODED_CODINGS = frozenset({"identity", "gzip", "deflate"})


def decoded_body(raw: Iterable[bytes], content_encoding: str, *, piece: int) -> Iterator[bytes]:
    """``raw`` (the body as received) with the codings ``content_encoding`` lists undone, last
    applied first, in pieces of at most ``piece`` bytes."""
    body: Iterable[bytes] = raw
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "gzip":
            body = _inflated(body, zlib.MAX_WBITS | 16, piece)
        elif coding == "deflate":
            body = _inflated_deflate(body, piece)
    return iter(body)


def _inflated(chunks: Iterable[bytes], wbits: int, piece: int) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    try:
        for chunk in chunks:
            out = inflater.decompress(chunk, piece)
            # Drain what zlib holds back (input left over, or output past ``piece``).
            while out or inflater.unconsumed_tail:
                if out:
                    yield out
                out = inflater.decompress(inflater.unconsumed_tail, piece)
        rest = inflater.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(str(exc)) from None
    if rest:
        yield rest


def _inflated_deflate(chunks: Iterable[bytes], piece: int) -> Iterator[bytes]:
    """``deflate`` is zlib-wrapped (RFC 9110 §8.4.1.2), but some servers send it raw: the
    first bytes tell which (a zlib header is a multiple of 31 with method 8)."""
    pending = iter(chunks)
    head = b""
    for chunk in pending:
        head += chunk
        if len(head) >= 2:
            break
    if not head:
        return
    wrapped = len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
    yield from _inflated(_prepended(head, pending), wbits, piece)


def _prepended(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest

"""The request path as the caller encoded it (RFC 3986 §2.1 percent-encoding intact).

WSGI hands an application ``PATH_INFO`` already percent-decoded, so ``/a%2Fb`` and ``/a/b``
look the same there; a pass-through (the proxy) must forward the first as sent, since for
the provider an encoded ``/`` is data inside one segment. The raw request target is in the
environ under ``RAW_URI`` (gunicorn, which serves Cloud Functions; werkzeug too) or
``REQUEST_URI`` (werkzeug, uWSGI, mod_wsgi). It is trusted only when it decodes to the path
WSGI routed on; otherwise (a server that sets neither, or a rewrite in between) there is no
caller encoding to keep and the decoded path is encoded again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["PATH_SAFE", "encoded_rest", "reencode"]

# RFC 3986 pchar and "/": what a path keeps unescaped on the way out.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def reencode(path: str) -> str:
    """``path`` (raw, from the request line) with percent-escapes kept as written and every
    other character outside :data:`PATH_SAFE` escaped, a stray ``%`` as ``%25``."""
    raw = _ESCAPE.sub("%25", path)
    return quote(raw.encode("latin-1", "replace"), safe=PATH_SAFE + "%")


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _decoded(segment: str) -> list[str]:
    # WSGI strings are bytes read as latin-1; decode the escapes the same way.
    return _segments(unquote(segment, encoding="latin-1", errors="replace"))


def encoded_rest(environ: Mapping[str, Any], decoded: str) -> str:
    """The last part of the request path, ``decoded`` as routed (the tail of
    ``SCRIPT_NAME`` + ``PATH_INFO``, such as the proxy's ``*path``), encoded as the caller
    sent it; ``decoded`` encoded again when the raw target does not decode to the routed path.
    """
    fallback = quote(decoded, safe=PATH_SAFE)
    raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
    if not raw:
        return fallback
    raw = raw.split("#", 1)[0].split("?", 1)[0]
    if not raw.startswith("/"):  # absolute-form request target (RFC 9112 §3.2.2)
        raw = urlsplit(raw).path
    routed = _segments(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
    fixed = len(routed) - len(_segments(decoded))
    if fixed < 0:
        return fallback
    # Walk the raw path segment by segment: the fixed part must decode to whole segments
    # of the routed path, and the whole raw path to the routed one.
    position, seen = 0, 0
    while seen < fixed:
        start = position
        while raw.startswith("/", start):
            start += 1
        end = raw.find("/", start)
        end = len(raw) if end < 0 else end
        parts = _decoded(raw[start:end])
        if start == end or parts != routed[seen : seen + 1]:
            return fallback
        position, seen = end, seen + 1
    rest = raw[position:].lstrip("/")
    if [p for segment in rest.split("/") for p in _decoded(segment)] != routed[fixed:]:
        return fallback
    return reencode(rest)

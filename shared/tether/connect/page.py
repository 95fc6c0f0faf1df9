"""The hosted Connect page as bytes and headers: the HTML shell (no inline script or style),
its script and stylesheet, the embed script, and the Content-Security-Policy that goes with
them. Pure apart from reading the packaged files once.

The assets are hand-written, dependency-free JavaScript and CSS, served as they are: the page
is a few forms and lists, which the DOM does well without a framework, a build step or a
CDN, and it stays far below its weight budget (60 KB of script and style gzipped for the
page, 5 KB for the embed script). Each is gzipped once per instance for browsers that
accept it.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from urllib.parse import urlsplit

__all__ = ["ASSETS", "Asset", "asset", "content_security_policy", "page_html"]

# name → content type of the files served beside the page
ASSETS: dict[str, str] = {
    "connect.js": "text/javascript; charset=utf-8",
    "connect.css": "text/css; charset=utf-8",
    "embed.js": "text/javascript; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


def _read(name: str) -> bytes:
    return files("tether.connect").joinpath("assets", name).read_bytes()


@cache
def asset(name: str) -> Asset:
    """A packaged asset (``KeyError`` for a name not in :data:`ASSETS`)."""
    content_type = ASSETS[name]
    body = _read(name)
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, gzip.compress(body, 9, mtime=0), content_type, f'"{digest}"')


def page_html(*, asset_base: str, functions: Mapping[str, str]) -> str:
    """The page's HTML: where its assets are (``asset_base``, ending in ``/``) and, in a data
    attribute the script reads, the URL of each function it calls."""
    shell = _read("page.html").decode()
    return (
        shell.replace("{{asset_base}}", html.escape(asset_base, quote=True))
        .replace("{{version}}", asset("connect.js").etag.strip('"'))
        .replace("{{functions}}", html.escape(json.dumps(dict(functions)), quote=True))
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(
    *, functions: Mapping[str, str], frame_ancestors: tuple[str, ...]
) -> str:
    """Strict: scripts and styles of the page's own origin only (no inline code, no eval),
    requests to the page and the functions it calls, and framed only by the session's
    allowed origins (``'none'`` without them)."""
    api = sorted({o for o in (_origin(u) for u in functions.values()) if o is not None})
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src " + " ".join(["'self'", *api]),
            "form-action 'none'",
            "base-uri 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )

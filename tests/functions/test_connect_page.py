"""The hosted Connect page as the `connect` function serves it: a strict Content-Security-
Policy with no inline code, framed only by a live session's allowed origins, its files
gzipped and cached by ETag, and within its weight budget."""

from __future__ import annotations

import gzip
import re

from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import bearer
from tests.functions.conftest import SOURCE
from tether.bootstrap import Container
from tether.connect.commands import CreateConnectSession, EndUser
from tether.domain.models import Principal

TENANT = Principal(tenant_id="acme", user_id="backend")


def _client() -> FlaskClient:
    return create_app("connect", SOURCE).test_client()


def _csp(response: object) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in header.split("; ")}


def test_the_page_has_no_inline_code_and_a_strict_policy(container: Container) -> None:
    page = _client().get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    policy = _csp(page)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"  # no session: no one may frame it
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'none'"
    # every script has a src, no inline handler or style attribute anywhere
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"\son\w+=|\sstyle=|<style", html)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    assert "data-functions=" in html and "/connections/" in html


def test_only_a_live_sessions_origins_may_frame_it(container: Container) -> None:
    sessions = container.connect_sessions
    issued = sessions.create(
        TENANT,
        CreateConnectSession(
            end_user=EndUser(id="user-a"),
            allowed_origins=["https://app.example", "http://localhost:3000"],
        ),
    )
    client = _client()
    framed = _csp(client.get(f"/?session={issued.session.id}"))["frame-ancestors"]
    assert framed == "https://app.example http://localhost:3000"
    assert _csp(client.get("/?session=csess_unknown0000"))["frame-ancestors"] == "'none'"
    assert _csp(client.get("/?session=not an id"))["frame-ancestors"] == "'none'"
    sessions.revoke(TENANT, issued.session.id)
    assert _csp(client.get(f"/?session={issued.session.id}"))["frame-ancestors"] == "'none'"


def test_an_allowed_origin_cannot_widen_who_may_frame_the_page(container: Container) -> None:
    """An ``allowed_origins`` entry goes into the page's ``frame-ancestors``: one that is not
    a single origin (a space, a quote, a comma) is refused, never written into the policy."""
    sessions = create_app("connect_sessions", SOURCE).test_client()
    for hostile in (
        "https://app.example evil.example",
        "https://app.example 'unsafe-inline'",
        "https://app.example;sandbox",
    ):
        response = sessions.post(
            "/",
            json={"end_user": {"id": "user-a"}, "allowed_origins": [hostile]},
            headers=bearer("acme"),
        )
        assert response.status_code == 400, (hostile, response.get_json())
        assert response.get_json()["error"]["code"] == "VALIDATION_FAILED"


def test_the_files_are_gzipped_cached_and_within_budget(container: Container) -> None:
    client = _client()
    sizes = {}
    for name, kind in (
        ("connect.js", "text/javascript"),
        ("connect.css", "text/css"),
        ("embed.js", "text/javascript"),
    ):
        zipped = client.get(f"/{name}", headers={"Accept-Encoding": "gzip, br"})
        assert zipped.status_code == 200
        assert zipped.headers["Content-Type"].startswith(kind)
        assert zipped.headers["Content-Encoding"] == "gzip"
        plain = client.get(f"/{name}")
        assert "Content-Encoding" not in plain.headers
        assert gzip.decompress(zipped.get_data()) == plain.get_data()
        etag = plain.headers["ETag"]
        assert client.get(f"/{name}", headers={"If-None-Match": etag}).status_code == 304
        sizes[name] = len(zipped.get_data())
    assert sizes["connect.js"] + sizes["connect.css"] <= 60 * 1024
    assert sizes["embed.js"] <= 5 * 1024
    assert client.get("/page.html").status_code == 404
    assert client.get("/../config.py").status_code == 404

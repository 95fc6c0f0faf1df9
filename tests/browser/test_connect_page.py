"""The Connect page as an end user meets it, in headless Chromium against `tether dev`:
connecting Stripe by API key (refused inline when malformed, tested against a stand-in and
saved), the demo OAuth provider through a popup, reconnect and delete, the events an
embedding page receives, end users kept apart, an OAuth callback refused in a second browser
profile, a keyboard-only setup, axe-core, and the standards the page keeps (no token left in
the URL, no CSP violation)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Stack

pytestmark = pytest.mark.e2e

STRIPE_KEY = "sk_test_51BrowserConnectKey0000000000"
IMPACTS = ("serious", "critical")


def _open(context: Any, url: str) -> tuple[Any, list[str]]:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    page.wait_for_selector("#view-catalog:not([hidden])")
    return page, problems


def _until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is true in ``page``. (Playwright's own wait_for_function
    evaluates a string inside the page, which the page's CSP refuses, as it should.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(50)


def _csp_violations(problems: list[str]) -> list[str]:
    return [p for p in problems if "Content Security Policy" in p]


def _provider(page: Any, key: str, search: str) -> None:
    page.fill("#q", search)
    page.wait_for_selector(f"button[data-provider={key}]")
    page.click(f"button[data-provider={key}]")
    page.wait_for_selector("#view-setup:not([hidden])")


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core (the copy the axe-playwright-python package ships) run in the page. Evaluated
    over the DevTools protocol, which the page's CSP does not govern; the page itself still
    loads no inline script."""
    source = files("axe_playwright_python").joinpath("axe.min.js").read_text()
    page.evaluate(source + "\n;undefined")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in IMPACTS]


def _connections(stack: Stack, token: str) -> list[dict[str, Any]]:
    listed = httpx.get(
        f"{stack.dev.url}/connections/", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200
    return list(listed.json()["connections"])


def test_connect_stripe_by_api_key(stack: Stack, context: Any, shots: Any) -> None:
    session = stack.session("user-stripe")
    page, problems = _open(context, session["url"])
    assert "token" not in page.url and session["token"] not in page.url  # history replaced
    shots(page, "catalog")

    _provider(page, "stripe", "stripe")
    key = page.locator("#f-credentials-api_key")
    assert key.get_attribute("type") == "password"
    key.fill("pk_live_not_a_secret_key")
    assert key.get_attribute("aria-invalid") == "true"
    assert "expected format" in page.text_content("#f-credentials-api_key-error")
    page.click("#next")  # refused inline: the step does not advance
    assert page.locator("#f-credentials-api_key").is_visible()
    shots(page, "malformed-key")

    key.fill(STRIPE_KEY)
    assert key.get_attribute("aria-invalid") is None
    page.click("#next")
    page.wait_for_selector("#f-credentials-webhook_secret")  # the optional step
    shots(page, "optional-step")
    page.click("#next")  # test before save
    page.wait_for_selector("#test-result.ok")
    result = page.text_content("#test-result")
    assert "It works." in result and "OK" in result
    assert "ada@example.com" in result  # the sample rows
    shots(page, "tested")
    page.click("#save")
    page.wait_for_selector("[data-connection] .status.active")
    shots(page, "saved")

    (saved,) = _connections(stack, session["token"])
    assert saved["provider"] == "stripe" and saved["end_user_id"] == "user-stripe"
    assert STRIPE_KEY not in page.content()
    assert not _csp_violations(problems), problems


def test_connect_the_demo_provider_in_a_popup_then_reconnect_and_delete(
    stack: Stack, context: Any, shots: Any
) -> None:
    session = stack.session("user-oauth")
    page, problems = _open(context, session["url"])
    _provider(page, "demo", "demo")
    shots(page, "sign-in-step")
    with page.expect_popup() as opened:
        page.click("#next")
    popup = opened.value
    popup.wait_for_event("close", timeout=15_000)
    page.wait_for_selector("[data-connection] .status.active")
    assert "Connected" in page.text_content("#notice")
    shots(page, "connected")
    (connected,) = _connections(stack, session["token"])
    assert connected["provider"] == "demo" and connected["status"] == "active"

    # Reconnect: the same popup flow, the same connection.
    page.click(f"[data-connection={connected['id']}] button:has-text('Reconnect')")
    page.wait_for_selector("#view-setup:not([hidden])")
    with page.expect_popup() as again:
        page.click("#next")
    again.value.wait_for_event("close", timeout=15_000)
    page.wait_for_selector("[data-connection] .status.active")
    assert [c["id"] for c in _connections(stack, session["token"])] == [connected["id"]]
    shots(page, "reconnected")

    # Delete, after a confirmation.
    page.click(f"[data-connection={connected['id']}] button:has-text('Remove')")
    page.wait_for_selector("#confirm[open]")
    shots(page, "confirm-delete")
    page.click("#confirm button[value=cancel]")
    assert _connections(stack, session["token"])
    page.click(f"[data-connection={connected['id']}] button:has-text('Remove')")
    page.click("#confirm-ok")
    page.wait_for_selector("#no-connections:not([hidden])")
    assert _connections(stack, session["token"]) == []
    shots(page, "deleted")
    assert not _csp_violations(problems), problems


class _HostPage(BaseHTTPRequestHandler):
    """A product's page on another origin that embeds the Connect page."""

    script = ""

    def do_GET(self) -> None:
        if self.path.startswith("/app.js"):
            body, kind = self.script.encode(), "text/javascript"
        else:
            body, kind = (
                b'<!doctype html><title>Host</title><script src="/app.js"></script>',
                "text/html",
            )
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def host_page(stack: Stack) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _embed(context: Any, stack: Stack, host: str, token: str, provider: str = "") -> Any:
    _HostPage.script = (
        "window.events = [];\n"
        "var s = document.createElement('script');\n"
        f"s.src = '{stack.dev.url}/connect/embed.js';\n"
        "s.onload = function () { window.handle = TetherConnect.open({token: "
        f"'{token}', provider: '{provider}' || undefined, "
        "onEvent: function (e) { window.events.push(e); }}); };\n"
        "document.head.appendChild(s);\n"
    )
    page = context.new_page()
    page.goto(f"{host}/")
    return page


def _events(page: Any) -> list[str]:
    return [e["type"] for e in page.evaluate("window.events")]


def test_the_embedding_page_receives_the_events(
    stack: Stack, context: Any, shots: Any, host_page: str
) -> None:
    session = stack.session("user-embed", allowed_origins=[host_page])
    page = _embed(context, stack, host_page, session["token"], provider="rest_api")
    page.wait_for_function("window.events.some(e => e.type === 'ready')")
    frame = page.frame_locator("iframe[title='Connect an account']")
    frame.locator("#f-config-base_url").fill(stack.api.url)
    frame.locator("#next").click()
    frame.locator("#f-config-auth_method").select_option("none")
    frame.locator("#next").click()
    frame.locator("#f-config-test_path").fill("/cursor/items")
    frame.locator("#next").click()
    frame.locator("#f-config-records_path").fill("data")
    frame.locator("#next").click()
    frame.locator("#test-result.ok").wait_for()
    assert "item" in frame.locator("#test-result table").inner_text().lower()
    shots(page, "rest-api-tested")
    frame.locator("#save").click()
    frame.locator("#endpoints:not([hidden])").wait_for()
    assert "/page/items" in frame.locator("#endpoint-list").inner_text()  # discovered
    shots(page, "endpoints")
    frame.locator("#endpoint-list input[value='GET /page/items']").check()
    frame.locator("#save-endpoints").click()
    frame.locator("[data-connection]").wait_for()
    (created,) = _connections(stack, session["token"])
    assert created["metadata"]["endpoints"] == ["GET /cursor/items", "GET /page/items"]

    frame.locator("[data-connection] button:has-text('Remove')").click()
    frame.locator("#confirm-ok").click()
    frame.locator("#no-connections:not([hidden])").wait_for()
    frame.locator("#close").click()
    page.wait_for_function("window.events.some(e => e.type === 'closed')")
    assert page.locator("iframe").count() == 0
    events = page.evaluate("window.events")
    kinds = [e["type"] for e in events]
    assert (
        kinds.index("connection.created")
        < kinds.index("connection.deleted")
        < kinds.index("closed")
    )
    assert (
        next(e for e in events if e["type"] == "connection.created")["connection"]["id"]
        == created["id"]
    )
    assert all(e.get("source") == "tether-connect" for e in events if e["type"] != "closed")


def test_an_origin_the_session_does_not_allow_gets_nothing(
    stack: Stack, context: Any, host_page: str
) -> None:
    session = stack.session("user-elsewhere", allowed_origins=["https://app.example"])
    page = _embed(context, stack, host_page, session["token"])
    page.wait_for_selector("iframe")
    page.wait_for_timeout(1500)
    assert _events(page) == []  # framing refused by frame-ancestors; no message either way


def test_a_session_never_shows_another_end_users_connections(stack: Stack, context: Any) -> None:
    theirs = httpx.post(
        f"{stack.dev.url}/connections/",
        json={
            "provider": "stripe",
            "end_user_id": "user-b",
            "credentials": {"api_key": STRIPE_KEY},
        },
        headers=stack.tenant,
    ).json()["id"]
    session = stack.session("user-a-only")
    page, _ = _open(context, session["url"])
    page.wait_for_selector("#no-connections:not([hidden])")
    assert theirs not in page.content()
    # Guessing the id from the page's own origin with its own token: unknown.
    guessed = page.evaluate(
        """async ([id, token]) => {
            const headers = {Authorization: 'Bearer ' + token};
            return (await fetch('/connections/' + id, {headers})).status;
        }""",
        [theirs, session["token"]],
    )
    assert guessed == 404


def test_the_oauth_callback_in_a_second_browser_profile_is_refused(
    stack: Stack, browser: Any, context: Any, shots: Any
) -> None:
    session = stack.session("user-bound")
    page, _ = _open(context, session["url"])
    demo = f"http://127.0.0.1:{stack.demo_port}/"
    captured: list[str] = []

    def hold(route: Any) -> None:  # the first browser never reaches the provider
        captured.append(route.request.url)
        route.abort()

    context.route(re.compile(re.escape(demo) + ".*"), hold)
    _provider(page, "demo", "demo")
    with page.expect_popup() as opened:
        page.click("#next")
    popup = opened.value
    for _ in range(50):  # until the popup heads for the provider
        if captured:
            break
        popup.wait_for_timeout(100)
    assert captured, "the popup did not go to the provider"
    authorization_url = captured[0]

    other = browser.new_context()  # another profile: its own cookies
    try:
        elsewhere = other.new_page()
        elsewhere.goto(authorization_url)  # provider → Tether's callback → the page
        elsewhere.wait_for_selector("#notice:not([hidden])")
        assert "started in another browser" in elsewhere.text_content("#notice")
        shots(elsewhere, "refused-elsewhere")
    finally:
        other.close()
    assert _connections(stack, session["token"]) == []


def test_keyboard_only_setup_and_no_serious_accessibility_violation(
    stack: Stack, context: Any, shots: Any
) -> None:
    session = stack.session("user-keys")
    page, _ = _open(context, session["url"])
    assert _axe(page) == []

    page.keyboard.press("Tab")  # the skip link
    assert page.evaluate("document.activeElement.className") == "skip"
    page.focus("#q")
    page.keyboard.type("stripe")
    page.wait_for_selector("button[data-provider=stripe]")
    _until(page, "document.querySelectorAll('#providers button').length === 1")
    for _ in range(4):  # search → category → region → sign-in → the one provider
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.provider") == "stripe"
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-setup:not([hidden])")
    _until(page, "document.activeElement.id === 'setup-title'")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-credentials-api_key"
    page.keyboard.type("nope")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "f-credentials-api_key"
    assert _axe(page) == []  # with the inline error shown
    shots(page, "keyboard-error")
    page.keyboard.press("Control+A")
    page.keyboard.type(STRIPE_KEY)
    page.keyboard.press("Enter")
    page.wait_for_selector("#f-credentials-webhook_secret")
    page.keyboard.press("Enter")
    page.wait_for_selector("#test-result.ok")
    assert page.evaluate("document.activeElement.id") == "save"
    assert _axe(page) == []
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-connection] .status.active")
    shots(page, "keyboard-saved")
    assert _axe(page) == []


def test_an_ended_session_says_so(stack: Stack, context: Any, shots: Any) -> None:
    session = stack.session("user-ended")
    page, _ = _open(context, session["url"])
    assert (
        httpx.delete(
            f"{stack.dev.url}/connect_sessions/{session['id']}", headers=stack.tenant
        ).status_code
        == 204
    )
    page.reload()
    page.wait_for_selector("#notice:not([hidden])")
    assert "was ended" in page.text_content("#notice")
    shots(page, "ended")

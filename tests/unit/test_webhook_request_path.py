"""What the webhook function keeps between deliveries instead of redoing per request: the
headers read straight from the WSGI environ, one frame-and-services object per container, and
the encoded answer. Each is checked against what it replaces."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, request

from tether import wiring
from tether.api.webhooks import _accepted_body, lower_case_headers
from tether.bootstrap import Container, reset_container


def _environ(**extra: Any) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/tok",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b"{}"),
        **extra,
    }


def test_headers_are_the_ones_werkzeug_lists_with_lower_case_names() -> None:
    environ = _environ(
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH="2",
        HTTP_HOST="127.0.0.1:8080",
        HTTP_STRIPE_SIGNATURE="t=1,v1=ab",
        HTTP_X_SHOPIFY_HMAC_SHA256="c2ln",
        HTTP_USER_AGENT="Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        # a client's own "Content-Type" twin never replaces the CGI variable
        HTTP_CONTENT_TYPE="text/plain",
        HTTP_CONTENT_LENGTH="999",
    )
    app = Flask("headers-test")
    with app.request_context(environ):
        expected = {name.lower(): value for name, value in request.headers.items()}
    assert lower_case_headers(environ) == expected
    assert expected["content-type"] == "application/json"
    assert expected["x-shopify-hmac-sha256"] == "c2ln"


def test_an_empty_content_length_is_no_header() -> None:
    environ = _environ(CONTENT_LENGTH="", CONTENT_TYPE="")
    app = Flask("headers-test")
    with app.request_context(environ):
        expected = {name.lower(): value for name, value in request.headers.items()}
    assert lower_case_headers(environ) == expected == {}


def test_headers_stay_right_past_the_names_kept_per_instance() -> None:
    # A sender inventing header names: the names past the bound are worked out each time.
    invented = {f"HTTP_X_INVENTED_{n}": str(n) for n in range(1500)}
    for _ in range(2):
        environ = _environ(CONTENT_TYPE="application/json", HTTP_X_EMPTY="", **invented)
        app = Flask("headers-test")
        with app.request_context(environ):
            expected = {name.lower(): value for name, value in request.headers.items()}
        assert lower_case_headers(environ) == expected
        assert expected["x-invented-1499"] == "1499" and expected["x-empty"] == ""


def test_the_accepted_answer_is_the_documented_model() -> None:
    assert _accepted_body(False) == '{"ok":true,"duplicate":false}'
    assert _accepted_body(True) == '{"ok":true,"duplicate":true}'


def test_a_function_gets_one_wiring_per_container(container: Container) -> None:
    first = wiring.webhooks()
    assert wiring.webhooks() is first
    assert first.services.intake() is container.webhook_intake
    other = Container(container.settings)
    try:
        reset_container(other)
        again = wiring.webhooks()
        assert again is not first
        assert again.services.intake() is other.webhook_intake
    finally:
        reset_container(container)
        other.close()

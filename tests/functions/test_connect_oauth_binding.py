"""An OAuth flow a connect session starts is bound to the browser that started it: the start
sets a cookie on the callback's path, and the callback refuses the flow in a browser without
it (another browser, another profile), while the browser that has it completes the flow and
the connection belongs to the session's end user."""

from __future__ import annotations

from http.cookies import SimpleCookie

from functions_framework import create_app

from tests.functions.conftest import SOURCE
from tests.functions.oauth_harness import ACME, RETURN_TO, Flow, clock, flow
from tether.connect.commands import CreateConnectSession, EndUser
from tether.domain.clock import FixedClock
from tether.domain.models import Principal

__all__ = ["clock", "flow"]  # fixtures of the OAuth harness used here


def _session_headers(flow: Flow, end_user: str = "user-a") -> dict[str, str]:
    issued = flow.container.connect_sessions.create(
        Principal(tenant_id="acme", user_id="backend"),
        CreateConnectSession(end_user=EndUser(id=end_user)),
    )
    return {"Authorization": f"Bearer {issued.token}"}


def _start(flow: Flow, headers: dict[str, str]) -> tuple[dict[str, str], SimpleCookie]:
    started = flow.start.post("/", json=flow.custom_body(), headers=headers)
    assert started.status_code == 201, started.get_json()
    cookie: SimpleCookie = SimpleCookie()
    for header in started.headers.getlist("Set-Cookie"):
        cookie.load(header)
    return dict(started.get_json()), cookie


def test_the_browser_that_started_the_flow_completes_it(flow: Flow) -> None:
    started, cookie = _start(flow, _session_headers(flow))
    (name,) = cookie.keys()
    morsel = cookie[name]
    assert name.startswith("tether_oauth_")
    assert morsel["httponly"] and morsel["path"] == "/oauth_callback/"
    assert morsel["samesite"] == "Lax" and not morsel["secure"]  # plain http: local dev

    returned = flow.browser(started["authorization_url"])
    flow.callback.set_cookie(name, morsel.value)  # the function answers at its root here
    response = flow.callback.get("/", query_string=returned)
    assert response.status_code == 302
    assert "status=active" in response.headers["Location"]
    # the spent binder is cleared
    assert any(h.startswith(f"{name}=;") for h in response.headers.getlist("Set-Cookie")), (
        response.headers
    )
    connection_id = response.headers["Location"].split("connection_id=")[1].split("&")[0]
    stored = flow.connections.get(f"/{connection_id}", headers=ACME).get_json()
    assert stored["end_user_id"] == "user-a"


def test_the_callback_in_another_browser_is_refused(flow: Flow) -> None:
    started, cookie = _start(flow, _session_headers(flow))
    (name,) = cookie.keys()
    returned = flow.browser(started["authorization_url"])

    status, outcome, _ = flow.finish(returned)  # no cookie: another browser
    assert status == 302
    assert outcome["error"] == "browser_mismatch"
    assert flow.connection_count() == 0
    # a forged binder is refused the same way (the state is spent by now anyway)
    started, cookie = _start(flow, _session_headers(flow))
    (name,) = cookie.keys()
    returned = flow.browser(started["authorization_url"])
    flow.callback.set_cookie(name, "forged")  # the function answers at its root here
    response = flow.callback.get("/", query_string=returned)
    assert "error=browser_mismatch" in response.headers["Location"]
    assert response.headers["Location"].startswith(RETURN_TO)
    assert flow.connection_count() == 0


def test_a_tenant_started_flow_needs_no_cookie(flow: Flow) -> None:
    started, cookie = _start(flow, ACME)
    assert not cookie.keys()
    status, outcome, _ = flow.finish(flow.browser(started["authorization_url"]))
    assert status == 302 and outcome["status"] == "active"


def _session(flow: Flow, ttl_seconds: int | None = None) -> tuple[str, dict[str, str]]:
    issued = flow.container.connect_sessions.create(
        Principal(tenant_id="acme", user_id="backend"),
        CreateConnectSession(end_user=EndUser(id="user-a"), ttl_seconds=ttl_seconds),
    )
    return issued.session.id, {"Authorization": f"Bearer {issued.token}"}


def _complete_in_the_same_browser(flow: Flow, started: dict[str, str], cookie: SimpleCookie) -> str:
    (name,) = cookie.keys()
    returned = flow.browser(started["authorization_url"])
    flow.callback.set_cookie(name, cookie[name].value)  # the function answers at its root here
    response = flow.callback.get("/", query_string=returned)
    assert response.status_code == 302
    location = str(response.headers["Location"])
    assert location.startswith(RETURN_TO)
    return location


def test_a_flow_whose_session_was_ended_completes_nothing(flow: Flow) -> None:
    """The tenant ending a session stops what its bearer started too: the sign-in that was
    under way when the session was revoked creates no connection for its end user."""
    session_id, headers = _session(flow)
    started, cookie = _start(flow, headers)
    sessions = create_app("connect_sessions", SOURCE).test_client()
    assert sessions.delete(f"/{session_id}", headers=ACME).status_code == 204

    location = _complete_in_the_same_browser(flow, started, cookie)
    assert "error=session_ended" in location, location
    assert flow.connection_count() == 0


def test_a_flow_that_outlives_its_session_completes_nothing(flow: Flow, clock: FixedClock) -> None:
    _, headers = _session(flow, ttl_seconds=60)
    started, cookie = _start(flow, headers)
    clock.advance(120)  # the session has expired; the flow's state (10 minutes) has not

    location = _complete_in_the_same_browser(flow, started, cookie)
    assert "error=session_ended" in location, location
    assert flow.connection_count() == 0


def test_a_session_cannot_reconnect_a_provider_it_does_not_offer(flow: Flow) -> None:
    """A session the tenant opened for Stripe only cannot give the end user's existing
    connection of another provider a new grant or new credentials: that is connecting it,
    which the session does not offer. Reading and removing it stay the end user's."""
    started, cookie = _start(flow, _session_headers(flow))
    location = _complete_in_the_same_browser(flow, started, cookie)
    connection_id = location.split("connection_id=")[1].split("&")[0]
    narrow = flow.container.connect_sessions.create(
        Principal(tenant_id="acme", user_id="backend"),
        CreateConnectSession(end_user=EndUser(id="user-a"), allowed_providers=["stripe"]),
    )
    headers = {"Authorization": f"Bearer {narrow.token}"}

    reconnect = flow.start.post(
        "/", json={"connection_id": connection_id, "return_to": RETURN_TO}, headers=headers
    )
    assert reconnect.status_code == 403, reconnect.get_json()
    assert reconnect.get_json()["error"]["code"] == "PROVIDER_NOT_ALLOWED"
    assert not reconnect.headers.getlist("Set-Cookie")

    patched = flow.connections.patch(
        f"/{connection_id}", json={"credentials": {"client_secret": "other"}}, headers=headers
    )
    assert patched.status_code == 403, patched.get_json()
    assert patched.get_json()["error"]["code"] == "PROVIDER_NOT_ALLOWED"

    assert flow.connections.get(f"/{connection_id}", headers=headers).status_code == 200
    renamed = flow.connections.patch(
        f"/{connection_id}", json={"display_name": "Old one"}, headers=headers
    )
    assert renamed.status_code == 200, renamed.get_json()

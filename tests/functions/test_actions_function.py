"""The `actions` function end to end: connections made through the real OAuth flow (or an API
key), every catalog action run against the provider simulators, which refuse any request the
provider's published description does not allow."""

from __future__ import annotations

import base64
from typing import Any

from tests.support.provider_world import ACME, GLOBEX, XERO_TENANT, World
from tether.domain.models import Principal
from tether.domain.status import ConnectionStatus


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body["output"]


def test_google_calendar_actions_end_to_end(world: World) -> None:
    calendar = world.connect("google_calendar", ACME)
    listed = world.actions.get(f"/{calendar}", headers=ACME).get_json()
    assert [a["name"] for a in listed["actions"]] == [
        "create_event",
        "update_event",
        "delete_event",
        "list_events",
        "find_availability",
    ]
    event = _ok(
        world.run(
            calendar,
            "create_event",
            {
                "summary": "Intro call",
                "start": "2026-05-01T10:00:00+02:00",
                "end": "2026-05-01T10:30:00+02:00",
                "time_zone": "Europe/Berlin",
                "attendees": [{"email": "ann@example.com"}],
                "meet": True,
            },
            ACME,
            key="book-1",
        )
    )
    assert event["id"] and event["hangoutLink"].startswith("https://meet.example/")
    updated = _ok(
        world.run(calendar, "update_event", {"event_id": event["id"], "summary": "Intro"}, ACME)
    )
    assert updated["summary"] == "Intro"
    listed_events = _ok(
        world.run(
            calendar,
            "list_events",
            {"time_min": "2026-05-01T00:00:00Z", "time_max": "2026-05-02T00:00:00Z"},
            ACME,
        )
    )
    assert [e["id"] for e in listed_events["items"]] == [event["id"]]
    free = _ok(
        world.run(
            calendar,
            "find_availability",
            {
                "time_min": "2026-05-01T07:00:00Z",
                "time_max": "2026-05-01T10:00:00Z",
                "duration_minutes": 60,
            },
            ACME,
        )
    )
    assert free["busy"] == [{"start": "2026-05-01T08:00:00Z", "end": "2026-05-01T08:30:00Z"}]
    assert free["free"] == [
        {"start": "2026-05-01T07:00:00Z", "end": "2026-05-01T08:00:00Z"},
        {"start": "2026-05-01T08:30:00Z", "end": "2026-05-01T10:00:00Z"},
    ]
    assert _ok(world.run(calendar, "delete_event", {"event_id": event["id"]}, ACME)) == {
        "deleted": True
    }
    assert world.apis.rejected == []


def test_gmail_actions_send_a_real_rfc5322_message(world: World) -> None:
    gmail = world.connect("gmail", ACME)
    sent = _ok(
        world.run(
            gmail,
            "send_email",
            {
                "to": ["ann@example.com"],
                "cc": ["bob@example.com"],
                "subject": "Grüße",
                "text": "Hello Ann",
                "html": "<p>Hello <b>Ann</b></p>",
            },
            ACME,
            key="mail-1",
        )
    )
    stored = world.apis.state.messages[sent["id"]]
    assert stored["payload"]["mimeType"] == "multipart/alternative"
    assert [p["mimeType"] for p in stored["payload"]["parts"]] == ["text/plain", "text/html"]
    headers = {h["name"]: h["value"] for h in stored["payload"]["headers"]}
    assert (headers["To"], headers["Cc"], headers["Subject"]) == (
        "ann@example.com",
        "bob@example.com",
        "Grüße",
    )
    found = _ok(world.run(gmail, "list_emails", {"query": "to:ann@example.com"}, ACME))
    assert [m["id"] for m in found["messages"]] == [sent["id"]]
    read = _ok(world.run(gmail, "get_email", {"message_id": sent["id"]}, ACME))
    assert read["snippet"].startswith("Hello Ann")
    assert world.apis.rejected == []


def test_google_drive_actions_upload_and_download_bytes(world: World) -> None:
    drive = world.connect("google_drive", ACME)
    folder = _ok(world.run(drive, "create_folder", {"name": "Reports"}, ACME))
    assert folder["mimeType"] == "application/vnd.google-apps.folder"
    content = bytes(range(256)) + b"\r\n--not-a-boundary\r\n"
    uploaded = _ok(
        world.run(
            drive,
            "upload_file",
            {
                "name": "data.bin",
                "content_base64": base64.b64encode(content).decode(),
                "parent_id": folder["id"],
            },
            ACME,
        )
    )
    assert uploaded["parents"] == [folder["id"]]
    downloaded = _ok(world.run(drive, "download_file", {"file_id": uploaded["id"]}, ACME))
    assert base64.b64decode(downloaded["content_base64"]) == content
    assert downloaded["size"] == len(content)
    text = _ok(
        world.run(
            drive,
            "upload_file",
            {"name": "note.txt", "text": "hi", "mime_type": "text/plain"},
            ACME,
        )
    )
    names = [
        f["name"]
        for f in _ok(world.run(drive, "list_files", {"query": "name contains 'note'"}, ACME))[
            "files"
        ]
    ]
    assert names == ["note.txt"]
    assert _ok(world.run(drive, "delete_file", {"file_id": text["id"]}, ACME)) == {"deleted": True}
    assert world.apis.rejected == []


def test_hubspot_actions_end_to_end(world: World) -> None:
    hubspot = world.connect("hubspot", ACME)
    contact = _ok(
        world.run(
            hubspot,
            "create_contact",
            {"email": "ann@example.com", "first_name": "Ann", "company": "Acme"},
            ACME,
            key="c-1",
        )
    )
    assert contact["properties"]["firstname"] == "Ann"
    changed = _ok(
        world.run(
            hubspot, "update_contact", {"contact_id": contact["id"], "last_name": "Lee"}, ACME
        )
    )
    assert changed["properties"]["lastname"] == "Lee"
    read = _ok(world.run(hubspot, "get_contact", {"contact_id": contact["id"]}, ACME))
    assert read["id"] == contact["id"]
    assert [c["id"] for c in _ok(world.run(hubspot, "list_contacts", {}, ACME))["results"]] == [
        contact["id"]
    ]
    found = _ok(world.run(hubspot, "find_contact_by_email", {"email": "ann@example.com"}, ACME))
    assert [c["id"] for c in found["results"]] == [contact["id"]]
    nobody = _ok(world.run(hubspot, "find_contact_by_email", {"email": "zed@example.com"}, ACME))
    assert nobody["results"] == []
    deal = _ok(
        world.run(
            hubspot,
            "create_deal",
            {"name": "Pilot", "amount": "1500.00", "contact_id": contact["id"]},
            ACME,
        )
    )
    lone = _ok(world.run(hubspot, "create_deal", {"name": "Solo"}, ACME))
    assert deal["properties"]["dealname"] == "Pilot" and lone["properties"]["dealname"] == "Solo"
    assert world.apis.rejected == []


def test_finance_actions_stripe_xero_shopify(world: World) -> None:
    stripe = world.connect("stripe", ACME)
    customer = _ok(
        world.run(
            stripe,
            "create_customer",
            {"email": "ann@example.com", "name": "Ann", "metadata": {"plan": "pro"}},
            ACME,
            key="s-1",
        )
    )
    assert customer["object"] == "customer"
    assert world.apis.state.customers[customer["id"]]["metadata"] == {"plan": "pro"}
    world.apis.state.stripe_invoices.append(
        {
            "id": "in_1",
            "object": "invoice",
            "customer": customer["id"],
            "status": "open",
            "amount_due": 1200,
            "currency": "eur",
        }
    )
    invoices = _ok(world.run(stripe, "list_invoices", {"customer": customer["id"]}, ACME))
    assert [i["id"] for i in invoices["data"]] == ["in_1"]

    xero = world.connect(
        "xero",
        ACME,
        config={"tenant_id": XERO_TENANT},
        scopes=["offline_access", "accounting.invoices"],
    )
    invoice = _ok(
        world.run(
            xero,
            "create_invoice",
            {
                "contact_id": "6d2c2f5e-6b5f-4f3a-9a57-3c1d2e4f5a6b",
                "date": "2026-05-01",
                "line_items": [{"Description": "Consulting", "Quantity": 2, "UnitAmount": 150}],
            },
            ACME,
        )
    )
    assert invoice["Total"] == 300 and invoice["Status"] == "DRAFT"

    shopify = world.connect("shopify", ACME, config={"shop": "acme-store"})
    world.apis.state.shopify_orders["450789469"] = {
        "id": 450789469,
        "name": "#1001",
        "email": "ann@example.com",
        "total_price": "59.00",
        "currency": "EUR",
        "financial_status": "paid",
        "line_items": [],
    }
    order = _ok(world.run(shopify, "get_order", {"order_id": 450789469}, ACME))
    assert order["name"] == "#1001"
    missing = world.run(shopify, "get_order", {"order_id": 1}, ACME)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "NOT_FOUND"
    assert missing.get_json()["error"]["details"]["suggestion"]
    assert world.apis.rejected == []


def test_bad_input_is_400_naming_the_field(world: World) -> None:
    hubspot = world.connect("hubspot", ACME)
    cases = {
        "email": {},
        "phone": {"email": "ann@example.com", "phone": 42},
        "nickname": {"email": "ann@example.com", "nickname": "A"},
    }
    for field, body in cases.items():
        answer = world.run(hubspot, "create_contact", body, ACME)
        assert answer.status_code == 400, answer.get_json()
        error = answer.get_json()["error"]
        assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field
        assert field in error["message"]
    assert world.apis.calls == []


def test_a_401_from_the_provider_refreshes_exactly_once(world: World) -> None:
    calendar = world.connect("google_calendar", ACME)
    before = world.oauth.stats.get("token.refresh_token", 0)
    world.oauth.expire_access_tokens()
    listed = world.run(
        calendar,
        "list_events",
        {"time_min": "2026-05-01T00:00:00Z", "time_max": "2026-05-02T00:00:00Z"},
        ACME,
    )
    assert listed.status_code == 200, listed.get_json()
    assert world.oauth.stats.get("token.refresh_token", 0) == before + 1
    # a provider that keeps refusing: one refresh, one retry, then the test's code
    world.apis.fail_next(401, times=5)
    refused = world.run(
        calendar,
        "list_events",
        {"time_min": "2026-05-01T00:00:00Z", "time_max": "2026-05-02T00:00:00Z"},
        ACME,
    )
    error = refused.get_json()["error"]
    assert (refused.status_code, error["code"]) == (502, "INVALID_CREDENTIALS")
    assert error["details"]["suggestion"].startswith("Reconnect the account")
    assert world.oauth.stats.get("token.refresh_token", 0) == before + 2


def test_the_same_idempotency_key_creates_once(world: World) -> None:
    hubspot = world.connect("hubspot", ACME)
    body = {"email": "ann@example.com", "first_name": "Ann"}
    first = world.run(hubspot, "create_contact", body, ACME, key="create-ann")
    again = world.run(hubspot, "create_contact", body, ACME, key="create-ann")
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert world.apis.count("post-/crm/v3/objects/contacts_create") == 1
    assert len(world.apis.state.contacts) == 1
    other = world.run(
        hubspot, "create_contact", {"email": "bob@example.com"}, ACME, key="create-ann"
    )
    assert (other.status_code, other.get_json()["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    # keys are per tenant: another tenant's same key runs
    globex = world.connect("hubspot", GLOBEX)
    theirs = world.run(
        globex, "create_contact", {"email": "cy@example.com"}, GLOBEX, key="create-ann"
    )
    assert theirs.status_code == 200 and "Idempotent-Replayed" not in theirs.headers
    # a failed run frees its key: the retry runs
    world.apis.fail_next(500)  # a create is not retried by the client: one failure
    failed = world.run(hubspot, "create_contact", {"email": "dan@example.com"}, ACME, key="dan")
    assert failed.status_code == 502
    retried = world.run(hubspot, "create_contact", {"email": "dan@example.com"}, ACME, key="dan")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


def test_stripe_receives_the_callers_idempotency_key(world: World) -> None:
    stripe = world.connect("stripe", ACME)
    answer = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="cus-ann")
    assert answer.status_code == 200
    (call,) = [c for c in world.apis.calls if c.operation == "PostCustomers"]
    assert call.headers["idempotency-key"] == "cus-ann"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"


def test_tenants_connections_and_states(world: World) -> None:
    calendar = world.connect("google_calendar", ACME)
    assert world.actions.get(f"/{calendar}", headers=GLOBEX).status_code == 404
    assert world.run(calendar, "list_events", {}, GLOBEX).status_code == 404
    unknown = world.run(calendar, "launch_rocket", {}, ACME)
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "ACTION_NOT_FOUND")
    narrow = world.connect(
        "google_calendar", ACME, scopes=["https://www.googleapis.com/auth/calendar.readonly"]
    )
    names = [a["name"] for a in world.actions.get(f"/{narrow}", headers=ACME).get_json()["actions"]]
    assert names == ["list_events", "find_availability"]
    refused = world.run(narrow, "delete_event", {"event_id": "e1"}, ACME)
    assert (refused.status_code, refused.get_json()["error"]["code"]) == (403, "MISSING_SCOPE")
    principal = Principal(tenant_id="acme", user_id="user-1")
    record = world.container.connections.get(principal, calendar)
    world.container.store.update_connection(
        record.model_copy(update={"status": ConnectionStatus.NEEDS_REAUTH}),
        expected_version=record.version,
    )
    stale = world.run(
        calendar,
        "list_events",
        {"time_min": "2026-05-01T00:00:00Z", "time_max": "2026-05-02T00:00:00Z"},
        ACME,
    )
    assert (stale.status_code, stale.get_json()["error"]["code"]) == (409, "NEEDS_REAUTH")


def test_one_audit_entry_per_run_without_payload_values(world: World) -> None:
    stripe = world.connect("stripe", ACME)
    answer = world.run(
        stripe, "create_customer", {"email": "secret-ann@example.com", "name": "Ann"}, ACME
    )
    assert answer.status_code == 200
    entries = [
        e
        for e in world.container.store.list_audit("acme", connection_id=stripe)
        if e.action == "action.run"
    ]
    assert len(entries) == 1
    assert entries[0].detail == {
        "name": "create_customer",
        "ok": True,
        "input_fields": ["email", "name"],
    }
    assert "secret-ann" not in str(entries[0].model_dump())


def test_an_api_key_action_writes_one_audit_entry_in_all(world: World) -> None:
    """Reading an API key for an action is part of the action: its ``action.run`` entry is
    the run's only entry, as for an OAuth connection (no ``credentials.read`` beside it)."""
    stripe = world.connect("stripe", ACME)
    before = world.container.store.list_audit("acme", connection_id=stripe)
    created = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME)
    assert created.status_code == 200, created.get_json()
    listed = world.run(stripe, "list_invoices", {}, ACME)
    assert listed.status_code == 200, listed.get_json()
    added = world.container.store.list_audit("acme", connection_id=stripe)[: -len(before)]
    assert [(e.action, e.detail.get("name")) for e in added] == [
        ("action.run", "list_invoices"),
        ("action.run", "create_customer"),
    ]
    hubspot = world.connect("hubspot", ACME)
    before = world.container.store.list_audit("acme", connection_id=hubspot)
    answer = world.run(hubspot, "create_contact", {"email": "bob@example.com"}, ACME)
    assert answer.status_code == 200, answer.get_json()
    added = world.container.store.list_audit("acme", connection_id=hubspot)[: -len(before)]
    assert [e.action for e in added] == ["action.run"]


def test_an_answer_holding_a_lone_surrogate_is_a_provider_error(world: World) -> None:
    """JSON may escape half a UTF-16 pair ("\\ud800"): such an answer that fails the output
    schema is the provider's error like any other, recorded, and its idempotency key freed."""
    stripe = world.connect("stripe", ACME)
    before = world.container.store.list_audit("acme", connection_id=stripe)
    world.apis.answer_next(b'{"id": "cus_1", "object": "\\ud800"}')
    odd = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="ann")
    assert (odd.status_code, odd.get_json()["error"]["code"]) == (502, "PROVIDER_ERROR")
    added = world.container.store.list_audit("acme", connection_id=stripe)[: -len(before)]
    assert [(e.action, e.detail.get("ok")) for e in added] == [("action.run", False)]
    retried = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="ann")
    assert retried.status_code == 200, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers


def test_an_answer_holding_a_lone_surrogate_in_its_output_is_a_provider_error(
    world: World,
) -> None:
    """Half a UTF-16 pair in a field the output schema accepts cannot be stored, audited or
    answered as UTF-8: the answer is refused as not valid Unicode (the value never echoed),
    the run audited, and its idempotency key freed for a retry."""
    stripe = world.connect("stripe", ACME)
    before = world.container.store.list_audit("acme", connection_id=stripe)
    world.apis.answer_next(b'{"id":"cus_1","object":"customer","name":"\\ud800"}')
    odd = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="bob")
    error = odd.get_json()["error"]
    assert (odd.status_code, error["code"]) == (502, "PROVIDER_ERROR")
    assert "not valid Unicode" in error["message"]
    assert "\ud800" not in odd.get_data(as_text=True) and "\\ud800" not in error["message"]
    added = world.container.store.list_audit("acme", connection_id=stripe)[: -len(before)]
    assert [(e.action, e.detail.get("ok")) for e in added] == [("action.run", False)]
    retried = world.run(stripe, "create_customer", {"email": "ann@example.com"}, ACME, key="bob")
    assert retried.status_code == 200, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers


def test_a_browser_on_the_frontend_may_send_an_idempotency_key_and_read_the_replay(
    world: World,
) -> None:
    """The CORS preflight allows the headers the actions and MCP routes read, and the answer
    exposes the replay mark, so a frontend's script can retry a create safely."""
    frontend = {"Origin": "https://app.example.com"}
    preflight = world.actions.options(
        "/con_x/create_contact",
        headers={
            **frontend,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 204
    allowed = {
        h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"idempotency-key", "mcp-protocol-version", "mcp-session-id"} <= allowed
    hubspot = world.connect("hubspot", ACME)
    body = {"email": "ann@example.com"}
    world.run(hubspot, "create_contact", body, {**ACME, **frontend}, key="k-1")
    again = world.run(hubspot, "create_contact", body, {**ACME, **frontend}, key="k-1")
    assert again.headers["Idempotent-Replayed"] == "true"
    exposed = {h.strip().lower() for h in again.headers["Access-Control-Expose-Headers"].split(",")}
    assert "idempotent-replayed" in exposed

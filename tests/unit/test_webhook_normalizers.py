"""Per-provider normalizers and the field paths they read (pure functions)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tether.catalog import WebhookSpec, load_catalog
from tether.webhooks.normalizers import (
    DEFAULT_TYPE,
    Normalized,
    RawEvent,
    default_normalizer,
    normalize,
    normalizer_for,
    register,
)
from tether.webhooks.routing import (
    dedupe_key,
    field_text,
    field_value,
    is_empty_batch,
    kept_headers,
    parse_payload,
)


def _raw(provider: str, payload: Any, headers: dict[str, str] | None = None) -> RawEvent:
    spec = load_catalog().get(provider).webhook if provider in load_catalog() else None
    return RawEvent(provider=provider, payload=payload, headers=headers or {}, spec=spec)


def test_stripe_takes_type_and_the_object() -> None:
    result = normalize(
        _raw(
            "stripe",
            {
                "id": "evt_1",
                "type": "invoice.paid",
                "created": 1_767_225_600,
                "data": {"object": {"id": "in_1"}},
            },
        )
    )
    assert result == Normalized(
        type="invoice.paid",
        data={"id": "in_1"},
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_github_joins_the_event_header_and_the_action() -> None:
    payload = {"action": "opened", "number": 3}
    result = normalize(_raw("github", payload, {"x-github-event": "pull_request"}))
    assert (result.type, result.data) == ("pull_request.opened", payload)
    assert normalize(_raw("github", {"zen": "hi"}, {"x-github-event": "ping"})).type == "ping"


def test_shopify_takes_the_topic_header() -> None:
    result = normalize(_raw("shopify", {"id": 1}, {"x-shopify-topic": "orders/create"}))
    assert (result.type, result.data) == ("orders/create", {"id": 1})


def test_slack_takes_the_inner_event() -> None:
    payload = {
        "type": "event_callback",
        "event_time": 1_767_225_600,
        "event": {"type": "message", "text": "hi"},
    }
    result = normalize(_raw("slack", payload))
    assert (result.type, result.data) == ("message", {"type": "message", "text": "hi"})
    assert result.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert normalize(_raw("slack", {"type": "url_verification"})).type == "url_verification"


def test_slack_envelopes_sent_on_whole_leave_out_the_apps_verification_token() -> None:
    """Slack's envelopes carry the app's verification token (deprecated, still a credential
    of the app, the same in every workspace's events): no tenant receives it."""
    payload = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "type": "app_rate_limited",
        "team_id": "T123ABC456",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A123ABC456",
    }
    result = normalize(_raw("slack", payload))
    assert result.type == "app_rate_limited"
    assert "token" not in result.data
    assert result.data["team_id"] == "T123ABC456"


def test_generic_webhooks_take_type_and_keep_the_whole_payload() -> None:
    payload = {"type": "order.created", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": 1}}
    assert normalize(_raw("webhook", payload)) == Normalized(type="order.created", data=payload)


def test_the_default_reads_the_catalog_type_path() -> None:
    assert normalizer_for("square") is default_normalizer
    payload = {"type": "payment.updated", "merchant_id": "ML1", "event_id": "e1"}
    assert normalize(_raw("square", payload)) == Normalized(type="payment.updated", data=payload)
    assert normalize(_raw("square", ["a", "list"])) == Normalized(
        type=DEFAULT_TYPE, data={"payload": ["a", "list"]}
    )


def test_a_xero_event_of_a_batch_is_typed_by_category_and_type() -> None:
    # One item of a Xero delivery's events (WebhookEvent in XeroAPI/Xero-OpenAPI's
    # xero-webhooks.yaml): eventDateUtc carries no offset and is UTC.
    item = {
        "resourceId": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
        "eventDateUtc": "2024-06-21T01:15:39.902",
        "eventType": "UPDATE",
        "eventCategory": "CONTACT",
        "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
        "tenantType": "ORGANISATION",
    }
    assert normalize(_raw("xero", item)) == Normalized(
        type="contact.update",
        data=item,
        occurred_at=datetime(2024, 6, 21, 1, 15, 39, 902000, tzinfo=UTC),
    )
    assert normalize(_raw("xero", {"eventDateUtc": "not a time"})) == Normalized(
        type=DEFAULT_TYPE, data={"eventDateUtc": "not a time"}
    )


def test_a_hubspot_event_of_a_batch_takes_its_subscription_type() -> None:
    item = {"eventId": 1, "subscriptionType": "contact.creation", "occurredAt": 1_767_225_600_000}
    assert normalize(_raw("hubspot", item)) == Normalized(
        type="contact.creation", data=item, occurred_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert normalize(_raw("hubspot", {"occurredAt": True})).occurred_at is None


@pytest.mark.parametrize(
    ("provider", "payload", "headers"),
    [
        ("twilio", {"MessageSid": "SM1"}, {}),
        ("stripe", {"id": "evt_1"}, {}),
        ("github", None, {}),
        ("webhook", ["not", "an", "object"], {}),
        ("no_such_provider", "text", {}),
    ],
)
def test_missing_types_fall_back_and_data_is_always_a_mapping(
    provider: str, payload: Any, headers: dict[str, str]
) -> None:
    result = normalize(_raw(provider, payload, headers))
    assert result.type == DEFAULT_TYPE
    assert isinstance(result.data, dict)


def test_a_long_type_is_cut_and_a_provider_registers_once() -> None:
    assert len(normalize(_raw("webhook", {"type": "x" * 500})).type) == 200
    with pytest.raises(ValueError, match="already registered"):
        register("stripe")(default_normalizer)


# -- routing helpers -------------------------------------------------------------------------
def test_payloads_parse_as_json_or_form() -> None:
    assert parse_payload(b'{"a": 1}', "application/json; charset=utf-8") == {"a": 1}
    assert parse_payload(b"a=1&b=2&a=3", "application/x-www-form-urlencoded") == {
        "a": "1",
        "b": "2",
    }
    assert parse_payload(b"not json", "application/json") is None
    assert parse_payload(b"", None) is None
    assert parse_payload(b"\xff", "application/x-www-form-urlencoded") is None


def test_field_paths_read_headers_objects_and_lists() -> None:
    payload = {"events": [{"tenantId": "t-1"}], "installation": {"id": 42}, "flag": True}
    headers = {"x-shopify-shop-domain": "acme.myshopify.com"}
    assert field_text("header:X-Shopify-Shop-Domain", headers, payload) == "acme.myshopify.com"
    assert field_text("events.0.tenantId", headers, payload) == "t-1"
    assert field_text("events.1.tenantId", headers, payload) is None
    assert field_text("installation.id", headers, payload) == "42"
    assert field_text("flag", headers, payload) is None
    assert field_text(None, headers, payload) is None
    assert field_value("0.portalId", {}, [{"portalId": 7}]) == 7
    assert field_value("a.b", {}, "text") is None


@pytest.mark.parametrize(
    ("spec", "payload", "empty"),
    [
        (WebhookSpec(scheme="xero", route_field="events.0.tenantId"), {"events": []}, True),
        (WebhookSpec(scheme="xero", route_field="events.0.tenantId"), {"events": [{}]}, False),
        (WebhookSpec(scheme="hubspot_v3", event_id_path="0.eventId"), [], True),
        (WebhookSpec(scheme="hubspot_v3", event_id_path="0.eventId"), [{"eventId": 1}], False),
        (WebhookSpec(scheme="stripe", event_id_path="id"), {}, False),
        (WebhookSpec(scheme="shopify", route_field="header:X-Shop"), None, False),
    ],
)
def test_empty_batches(spec: WebhookSpec, payload: Any, empty: bool) -> None:
    assert is_empty_batch(spec, payload) is empty


def test_dedupe_keys_are_scoped_by_connection() -> None:
    spec = WebhookSpec(scheme="standard_webhooks", event_id_path="header:webhook-id")
    headers = {"webhook-id": "msg_1"}
    assert dedupe_key(spec, headers, None, b"{}", connection_id="conn_a") == "conn_a/msg_1"
    assert dedupe_key(spec, headers, None, b"{}", connection_id=None) == "_/msg_1"
    by_body = dedupe_key(spec, {}, None, b"{}", connection_id="conn_a")
    assert by_body.startswith("conn_a/sha256:") and len(by_body) == len("conn_a/sha256:") + 64
    long_id = dedupe_key(spec, {"webhook-id": "x" * 500}, None, b"", connection_id="c")
    assert long_id.startswith("c/sha256:")


def test_sensitive_headers_are_not_kept() -> None:
    headers = {
        "Authorization": "Bearer x",
        "cookie": "a=b",
        "stripe-signature": "t=1,v1=ab",
        "x-hub-signature-256": "sha256=ab",
        "x-shopify-hmac-sha256": "ab",
        "x-api-key": "k",
        "X-GitHub-Event": "push",
        "content-type": "application/json",
    }
    assert kept_headers(headers) == {
        "x-github-event": "push",
        "content-type": "application/json",
    }
    many = {f"h{i}": "v" * 5000 for i in range(100)}
    kept = kept_headers(many)
    assert len(kept) == 64 and all(len(v) == 1024 for v in kept.values())


def test_every_catalog_webhook_spec_normalizes_a_plain_payload() -> None:
    for provider in load_catalog():
        if provider.webhook is None:
            continue
        result = normalize(_raw(provider.key, json.loads('{"type": "t"}')))
        assert result.type and isinstance(result.data, dict)

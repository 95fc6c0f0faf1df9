"""Webhook signature schemes: genuine deliveries accepted, everything else refused.

Where the deliveries come from:

* Stripe, Slack, Standard Webhooks, Svix, Twilio: signed by the vendors' own SDKs
  (``stripe.WebhookSignature.generate_signature_header``,
  ``slack_sdk.signature.SignatureVerifier.generate_signature``,
  ``standardwebhooks.Webhook.sign``, ``svix.webhooks.Webhook.sign``,
  ``twilio.request_validator.RequestValidator``), and the SDKs' verifiers accept the very same
  requests.
* SendGrid's signed Event Webhook: ECDSA P-256 keys generated here, signed with
  ``cryptography``, and verified by SendGrid's own helper (``sendgrid.EventWebhook``) as well;
  plus the published vector of that helper's test suite (sendgrid-python,
  ``test/unit/test_eventwebhook.py``).
* Published vectors: GitHub's docs ("It's a Secret to Everybody" / "Hello, World!"); Square's
  from the test suite of Square's Python SDK (square-python-sdk,
  ``tests/utilities/test_webhooks_helper.py``); HubSpot v3's from the test suite of HubSpot's
  Python SDK (hubspot-api-python, ``tests/spec/utils/test_signature.py``).
* Shopify, Xero, HubSpot v3 (URL decoding), Square (beyond the vector), PagerDuty and the
  generic ``hmac``: no vendor SDK here, so the deliveries are built in this file per the vendors'
  documented algorithms -- they are not published vectors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import parse_qsl, urlencode

import pytest
import standardwebhooks
import stripe
import svix.webhooks
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid import EventWebhook
from slack_sdk.signature import Clock, SignatureVerifier
from twilio.request_validator import RequestValidator

from tether.catalog.schema import WebhookScheme
from tether.webhooks.model import InboundRequest, SignatureError
from tether.webhooks.signatures import SCHEME_NAMES, event_id_header, scheme_for

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
URL = "https://hooks.example.com/v1/webhooks/c_123?region=eu"
JSON_BODY = json.dumps(
    {"id": "evt_1", "type": "thing.updated", "data": {"name": "Zoë", "n": 1}},
    ensure_ascii=False,
).encode()
STD_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
STD_OTHER = "whsec_" + base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
TWILIO_PARAMS = {
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "Body": "Hello & welcome = yes",
    "From": "+15005550006",
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "To": "+15005550001",
}


def request(
    headers: dict[str, str],
    body: bytes,
    *,
    url: str = URL,
    method: str = "POST",
) -> InboundRequest:
    return InboundRequest(
        method=method,
        url=url,
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        received_at=NOW,
    )


def hmac_b64(secret: str | bytes, message: bytes, algorithm: str = "sha256") -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, algorithm).digest()).decode()


def hmac_hex(secret: str, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret.encode(), message, algorithm).hexdigest()


def seconds(at: datetime) -> int:
    return int(at.timestamp())


# -- how each vendor signs a delivery ------------------------------------------------------------


def sign_stripe(secret: str, body: bytes, at: datetime) -> InboundRequest:
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=seconds(at)
    )
    return request({"Stripe-Signature": header}, body)


def sign_shopify(secret: str, body: bytes, at: datetime) -> InboundRequest:
    return request({"X-Shopify-Hmac-Sha256": hmac_b64(secret, body)}, body)


def sign_slack(secret: str, body: bytes, at: datetime) -> InboundRequest:
    stamp = str(seconds(at))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return request({"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": stamp}, body)


def sign_github(secret: str, body: bytes, at: datetime) -> InboundRequest:
    return request({"X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body)}, body)


def sign_hubspot(secret: str, body: bytes, at: datetime) -> InboundRequest:
    stamp = str(seconds(at) * 1000)
    signature = hmac_b64(secret, b"POST" + URL.encode() + body + stamp.encode())
    return request(
        {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": stamp}, body
    )


def sign_square(secret: str, body: bytes, at: datetime) -> InboundRequest:
    signature = hmac_b64(secret, URL.encode() + body)
    return request({"x-square-hmacsha256-signature": signature}, body)


def sign_xero(secret: str, body: bytes, at: datetime) -> InboundRequest:
    return request({"x-xero-signature": hmac_b64(secret, body)}, body)


def sign_twilio_form(secret: str, body: bytes, at: datetime) -> InboundRequest:
    params = dict(_parse_form(body))
    signature = RequestValidator(secret).compute_signature(URL, params)
    return request(
        {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        body,
    )


def sign_twilio_json(secret: str, body: bytes, at: datetime) -> InboundRequest:
    validator = RequestValidator(secret)
    url = URL + "&bodySHA256=" + validator.compute_hash(body.decode())
    signature = validator.compute_signature(url, {})
    return request(
        {"X-Twilio-Signature": signature, "Content-Type": "application/json"}, body, url=url
    )


def sign_svix(secret: str, body: bytes, at: datetime) -> InboundRequest:
    signature = svix.webhooks.Webhook(secret).sign("msg_2b", at, body.decode())
    return request(
        {"svix-id": "msg_2b", "svix-timestamp": str(seconds(at)), "svix-signature": signature},
        body,
    )


def _sendgrid_key() -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A P-256 key pair; the public half as SendGrid shows a verification key (base64 DER)."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode(), private


SENDGRID_KEYS = dict(_sendgrid_key() for _ in range(2))
SENDGRID_KEY, SENDGRID_OTHER = SENDGRID_KEYS


def sign_sendgrid(public_key: str, body: bytes, at: datetime) -> InboundRequest:
    """SendGrid's signature: ECDSA P-256 over the timestamp then the body, by the private half
    of ``public_key``."""
    stamp = str(seconds(at))
    signature = SENDGRID_KEYS[public_key].sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return request(
        {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        },
        body,
    )


PAGERDUTY_OPTIONS = {"header": "X-PagerDuty-Signature", "prefix": "v1=", "separator": ","}


def sign_pagerduty(secret: str, body: bytes, at: datetime) -> InboundRequest:
    """PagerDuty v3: ``v1=<hex HMAC-SHA256>``, here beside a signature under another secret as
    during a rotation (https://developer.pagerduty.com/docs/webhooks-overview)."""
    other = hmac_hex("a-retired-pagerduty-secret", body)
    return request({"X-PagerDuty-Signature": f"v1={other},v1={hmac_hex(secret, body)}"}, body)


def sign_standard(secret: str, body: bytes, at: datetime) -> InboundRequest:
    signature = standardwebhooks.Webhook(secret).sign("msg_2a", at, body.decode())
    return request(
        {
            "webhook-id": "msg_2a",
            "webhook-timestamp": str(seconds(at)),
            "webhook-signature": signature,
        },
        body,
    )


HMAC_OPTIONS = {
    "header": "X-Acme-Signature",
    "algorithm": "sha512",
    "encoding": "base64",
    "prefix": "sha512=",
}


def sign_hmac(secret: str, body: bytes, at: datetime) -> InboundRequest:
    return request({"X-Acme-Signature": "sha512=" + hmac_b64(secret, body, "sha512")}, body)


def _parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)


@dataclass(frozen=True)
class Case:
    id: str
    scheme: str
    sign: Callable[[str, bytes, datetime], InboundRequest]
    headers: tuple[str, ...]  # the headers verification requires
    timestamped: bool = False
    secret: str = "s3cr3t-signing-key-for-tests"
    other_secret: str = "another-signing-key-for-tests"
    body: bytes = JSON_BODY
    options: dict[str, Any] = field(default_factory=dict)
    asymmetric: bool = False  # a public key verifies: no secret compared


CASES = [
    Case(
        "stripe",
        "stripe",
        sign_stripe,
        ("stripe-signature",),
        timestamped=True,
        secret="whsec_test_abc123",
        other_secret="whsec_test_zzz999",
    ),
    Case("shopify", "shopify", sign_shopify, ("x-shopify-hmac-sha256",)),
    Case(
        "slack",
        "slack",
        sign_slack,
        ("x-slack-signature", "x-slack-request-timestamp"),
        timestamped=True,
    ),
    Case("github", "github", sign_github, ("x-hub-signature-256",)),
    Case(
        "hubspot_v3",
        "hubspot_v3",
        sign_hubspot,
        ("x-hubspot-signature-v3", "x-hubspot-request-timestamp"),
        timestamped=True,
    ),
    Case("square", "square", sign_square, ("x-square-hmacsha256-signature",)),
    Case("xero", "xero", sign_xero, ("x-xero-signature",)),
    Case(
        "twilio-form",
        "twilio",
        sign_twilio_form,
        ("x-twilio-signature",),
        body=urlencode(TWILIO_PARAMS).encode(),
    ),
    Case("twilio-json", "twilio", sign_twilio_json, ("x-twilio-signature",)),
    Case(
        "standard_webhooks",
        "standard_webhooks",
        sign_standard,
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
        timestamped=True,
        secret=STD_SECRET,
        other_secret=STD_OTHER,
    ),
    Case("hmac", "hmac", sign_hmac, ("x-acme-signature",), options=HMAC_OPTIONS),
    Case(
        "svix",
        "svix",
        sign_svix,
        ("svix-id", "svix-timestamp", "svix-signature"),
        timestamped=True,
        secret=STD_SECRET,
        other_secret=STD_OTHER,
    ),
    Case(
        "sendgrid",
        "sendgrid",
        sign_sendgrid,
        ("x-twilio-email-event-webhook-signature", "x-twilio-email-event-webhook-timestamp"),
        timestamped=True,
        secret=SENDGRID_KEY,
        other_secret=SENDGRID_OTHER,
        asymmetric=True,
    ),
    Case(
        "pagerduty",
        "hmac",
        sign_pagerduty,
        ("x-pagerduty-signature",),
        options=PAGERDUTY_OPTIONS,
    ),
]
TIMESTAMPED = [c for c in CASES if c.timestamped]
SYMMETRIC = [c for c in CASES if not c.asymmetric]


def ids(case: Case) -> str:
    return case.id


def verify(case: Case, req: InboundRequest, secrets: list[str], now: datetime = NOW) -> None:
    scheme_for(case.scheme, case.options or None).verify(req, secrets, now=now)


def refused(case: Case, req: InboundRequest, secrets: list[str], **kw: Any) -> SignatureError:
    with pytest.raises(SignatureError) as info:
        verify(case, req, secrets, **kw)
    err = info.value
    # Never a secret, a signature or any header value in what is logged or returned.
    shown = " ".join([str(err), repr(err), err.message, json.dumps(err.to_dict())])
    for secret in {case.secret, case.other_secret, *secrets}:
        if secret.strip():
            assert secret not in shown
    for value in req.headers.values():
        if len(value) > 8:
            assert value not in shown
    assert err.http_status == 401
    assert err.details == {"reason": err.reason}
    return err


def with_headers(req: InboundRequest, **changes: str | None) -> InboundRequest:
    headers = dict(req.headers)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return InboundRequest(req.method, req.url, headers, req.body, req.received_at)


def with_body(req: InboundRequest, body: bytes) -> InboundRequest:
    return InboundRequest(req.method, req.url, req.headers, body, req.received_at)


# -- every scheme: the common contract -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_genuine_delivery_is_accepted(case: Case) -> None:
    verify(case, case.sign(case.secret, case.body, NOW), [case.secret])


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_delivery_signed_a_little_earlier_is_accepted(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW - timedelta(seconds=299))
    verify(case, req, [case.secret])


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("position", [0, -1, "middle"])
def test_one_byte_change_of_the_body_is_refused(case: Case, position: int | str) -> None:
    req = case.sign(case.secret, case.body, NOW)
    index = len(case.body) // 2 if position == "middle" else int(position)
    body = bytearray(case.body)
    body[index] ^= 0x01
    assert refused(case, with_body(req, bytes(body)), [case.secret]).reason == "mismatch"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_appended_byte_is_refused(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    assert refused(case, with_body(req, case.body + b" "), [case.secret]).reason == "mismatch"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_wrong_secret_is_refused(case: Case) -> None:
    req = case.sign(case.other_secret, case.body, NOW)
    assert refused(case, req, [case.secret]).reason == "mismatch"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_each_missing_header_is_refused(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    for header in case.headers:
        assert header in req.headers
        missing = with_headers(req, **{header.replace("-", "_"): None})
        assert refused(case, missing, [case.secret]).reason == "missing_header"
        empty = with_headers(req, **{header.replace("-", "_"): "  "})
        assert refused(case, empty, [case.secret]).reason == "missing_header"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_no_headers_at_all_is_refused(case: Case) -> None:
    req = request({}, case.body)
    assert refused(case, req, [case.secret]).reason == "missing_header"


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids)
@pytest.mark.parametrize("offset", [-301, 301, -86_400, 3_600])
def test_timestamp_outside_the_tolerance_is_refused(case: Case, offset: int) -> None:
    req = case.sign(case.secret, case.body, NOW + timedelta(seconds=offset))
    assert refused(case, req, [case.secret]).reason == "stale"


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids)
def test_tolerance_is_an_option(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW - timedelta(seconds=100))
    strict = scheme_for(case.scheme, {"tolerance_seconds": 60})
    with pytest.raises(SignatureError) as info:
        strict.verify(req, [case.secret], now=NOW)
    assert info.value.reason == "stale"
    scheme_for(case.scheme, {"tolerance_seconds": 120}).verify(req, [case.secret], now=NOW)


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids)
def test_forged_stale_delivery_reports_mismatch_not_stale(case: Case) -> None:
    req = case.sign(case.other_secret, case.body, NOW - timedelta(hours=1))
    assert refused(case, req, [case.secret]).reason == "mismatch"


@pytest.mark.parametrize("case", TIMESTAMPED, ids=ids)
def test_naive_now_is_taken_as_utc(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    verify(case, req, [case.secret], now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_rotation_any_secret_verifying_is_enough(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    verify(case, req, [case.other_secret, case.secret])
    verify(case, req, [case.secret, case.other_secret])
    assert refused(case, req, [case.other_secret]).reason == "mismatch"


@pytest.mark.parametrize("case", CASES, ids=ids)
@pytest.mark.parametrize("secrets", [[], [""], ["   "]], ids=["none", "empty", "blank"])
def test_no_usable_secret_is_refused(case: Case, secrets: list[str]) -> None:
    req = case.sign(case.secret, case.body, NOW)
    assert refused(case, req, secrets).reason == "no_secret"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_an_empty_secret_beside_a_good_one_is_a_configuration_error(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    assert refused(case, req, [case.secret, ""]).reason == "no_secret"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_bare_string_is_not_a_list_of_secrets(case: Case) -> None:
    req = case.sign(case.secret, case.body, NOW)
    with pytest.raises(TypeError):
        verify(case, req, case.secret)  # type: ignore[arg-type]


@pytest.mark.parametrize("case", SYMMETRIC, ids=ids)
def test_comparison_is_constant_time(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify(case, case.sign(case.secret, case.body, NOW), [case.secret])
    assert calls


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_signature_of_another_body_is_refused(case: Case) -> None:
    """A genuine signature replayed onto a different delivery."""
    other = case.sign(case.secret, case.body + b"x", NOW)
    assert refused(case, with_body(other, case.body), [case.secret]).reason == "mismatch"


# -- Stripe ------------------------------------------------------------------------------------

STRIPE_SECRET = "whsec_test_abc123"


def test_stripe_sdk_agrees_with_the_same_delivery() -> None:
    req = sign_stripe(STRIPE_SECRET, JSON_BODY, NOW)
    header = req.headers["stripe-signature"]
    assert stripe.WebhookSignature.verify_header(JSON_BODY, header, STRIPE_SECRET, None)
    scheme_for("stripe").verify(req, [STRIPE_SECRET], now=NOW)


def test_stripe_sdk_verifies_a_live_delivery_and_so_do_we() -> None:
    now = datetime.now(UTC)
    req = sign_stripe(STRIPE_SECRET, JSON_BODY, now)
    event = stripe.Webhook.construct_event(
        JSON_BODY, req.headers["stripe-signature"], STRIPE_SECRET
    )
    assert event["id"] == "evt_1"
    scheme_for("stripe").verify(req, [STRIPE_SECRET], now=now)


def test_stripe_any_v1_may_match_and_other_schemes_are_ignored() -> None:
    genuine = sign_stripe(STRIPE_SECRET, JSON_BODY, NOW).headers["stripe-signature"]
    t, v1 = genuine.split(",")
    header = f"{t},v1={'0' * 64},v0={'1' * 64},{v1}"
    req = request({"Stripe-Signature": header}, JSON_BODY)
    scheme_for("stripe").verify(req, [STRIPE_SECRET], now=NOW)


def test_stripe_rolled_secret_overlap() -> None:
    """While Stripe rolls a secret it signs with both: two v1 values, one per secret."""
    old = "whsec_old_111"
    stamp = seconds(NOW)
    new_sig = hmac_hex(STRIPE_SECRET, f"{stamp}.".encode() + JSON_BODY)
    old_sig = hmac_hex(old, f"{stamp}.".encode() + JSON_BODY)
    req = request({"Stripe-Signature": f"t={stamp},v1={new_sig},v1={old_sig}"}, JSON_BODY)
    scheme_for("stripe").verify(req, [old], now=NOW)
    scheme_for("stripe").verify(req, [STRIPE_SECRET], now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "t=1741064767",
        f"v1={'a' * 64}",
        f"t=abc,v1={'a' * 64}",
        f"t=1,t=2,v1={'a' * 64}",
        "t=1741064767,v1=not-hex",
        f"t=-5,v1={'a' * 64}",
        f"t={'9' * 40},v1={'a' * 64}",
    ],
)
def test_stripe_malformed_header(header: str) -> None:
    req = request({"Stripe-Signature": header}, JSON_BODY)
    with pytest.raises(SignatureError) as info:
        scheme_for("stripe").verify(req, [STRIPE_SECRET], now=NOW)
    assert info.value.reason == "malformed"


# -- Slack -------------------------------------------------------------------------------------


class FixedClock(Clock):
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> float:
        return self.at.timestamp()


def test_slack_sdk_agrees_with_the_same_delivery() -> None:
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    req = sign_slack(secret, JSON_BODY, NOW)
    assert SignatureVerifier(secret, clock=FixedClock(NOW)).is_valid_request(
        req.body, dict(req.headers)
    )
    scheme_for("slack").verify(req, [secret], now=NOW)


@pytest.mark.parametrize("signature", ["v1=" + "a" * 64, "a" * 64, "v0=zz", "v0="])
def test_slack_malformed_signature(signature: str) -> None:
    req = request(
        {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(seconds(NOW))},
        JSON_BODY,
    )
    with pytest.raises(SignatureError) as info:
        scheme_for("slack").verify(req, ["secret"], now=NOW)
    assert info.value.reason == "malformed"


def test_slack_non_numeric_timestamp_is_malformed() -> None:
    req = sign_slack("secret", JSON_BODY, NOW)
    req = with_headers(req, x_slack_request_timestamp="yesterday")
    with pytest.raises(SignatureError) as info:
        scheme_for("slack").verify(req, ["secret"], now=NOW)
    assert info.value.reason == "malformed"


# -- GitHub ------------------------------------------------------------------------------------


def test_github_published_vector() -> None:
    """GitHub docs, "Validating webhook deliveries": test values."""
    req = request(
        {
            "X-Hub-Signature-256": (
                "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
            )
        },
        b"Hello, World!",
    )
    scheme_for("github").verify(req, ["It's a Secret to Everybody"], now=NOW)
    with pytest.raises(SignatureError):
        scheme_for("github").verify(req, ["It's a Secret to Everybody!"], now=NOW)


@pytest.mark.parametrize(
    "value",
    ["757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "sha1=abcd", "sha256=xyz"],
)
def test_github_malformed_signature(value: str) -> None:
    req = request({"X-Hub-Signature-256": value}, b"Hello, World!")
    with pytest.raises(SignatureError) as info:
        scheme_for("github").verify(req, ["It's a Secret to Everybody"], now=NOW)
    assert info.value.reason == "malformed"


def test_github_legacy_sha1_header_alone_is_not_enough() -> None:
    body = b"Hello, World!"
    sig = "sha1=" + hmac_hex("It's a Secret to Everybody", body, "sha1")
    req = request({"X-Hub-Signature": sig}, body)
    with pytest.raises(SignatureError) as info:
        scheme_for("github").verify(req, ["It's a Secret to Everybody"], now=NOW)
    assert info.value.reason == "missing_header"


# -- Square ------------------------------------------------------------------------------------

SQUARE_BODY = (
    b'{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification",'
    b'"event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f",'
    b'"created_at":"2022-07-13T20:30:59.037339943Z",'
    b'"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}'
)
SQUARE_URL = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
SQUARE_KEY = "Ibxx_5AKakO-3qeNVR61Dw"
SQUARE_SIGNATURE = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="


def test_square_published_vector() -> None:
    """The vector of Square's Python SDK tests (``test_webhooks_helper.py``)."""
    req = request({"x-square-hmacsha256-signature": SQUARE_SIGNATURE}, SQUARE_BODY, url=SQUARE_URL)
    scheme_for("square").verify(req, [SQUARE_KEY], now=NOW)
    # The same SDK tests' negative cases: another URL, another key, another signature.
    for bad_req, key in [
        (
            request(
                {"x-square-hmacsha256-signature": SQUARE_SIGNATURE},
                SQUARE_BODY,
                url="https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9",
            ),
            SQUARE_KEY,
        ),
        (req, "MCmhFRxGX82xMwg5FsaoQA"),
        (
            with_headers(req, x_square_hmacsha256_signature="1z2n3DEJJiUPKcPzQo1ftvbxGdw="),
            SQUARE_KEY,
        ),
    ]:
        with pytest.raises(SignatureError) as info:
            scheme_for("square").verify(bad_req, [key], now=NOW)
        assert info.value.reason == "mismatch"


def test_square_signs_the_url() -> None:
    req = sign_square("key", JSON_BODY, NOW)
    moved = InboundRequest("POST", URL.replace("c_123", "c_124"), req.headers, JSON_BODY, NOW)
    with pytest.raises(SignatureError) as info:
        scheme_for("square").verify(moved, ["key"], now=NOW)
    assert info.value.reason == "mismatch"


# -- HubSpot v3 --------------------------------------------------------------------------------


def test_hubspot_v3_published_vector() -> None:
    """The v3 vector of HubSpot's Python SDK tests (``test_signature.py``): timestamp
    15000000 ms, so ``now`` is set 15000 s after the epoch."""
    req = request(
        {
            "X-HubSpot-Signature-v3": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
            "X-HubSpot-Request-Timestamp": "15000000",
        },
        b"{'example_field':'example_value'}",
        url="https://www.example.com/webhook_uri",
    )
    at = datetime.fromtimestamp(15_000, UTC)
    scheme_for("hubspot_v3").verify(req, ["yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"], now=at)
    with pytest.raises(SignatureError) as info:
        scheme_for("hubspot_v3").verify(req, ["yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"], now=NOW)
    assert info.value.reason == "stale"


def test_hubspot_v3_decodes_the_documented_escapes_before_signing() -> None:
    """Built per HubSpot's documented rule (not a published vector): the listed escapes are
    decoded in the signed URI, others (``%20``, ``%2B``) are kept as sent."""
    called = (
        "https://hooks.example.com/hubspot%3Fx/c_1?return=https%3A%2F%2Fa.example%2Fp%3Bq"
        "&who=me%40example.com&s=%21%24%27%28%29%2a%2C&space=a%20b&plus=%2B"
    )
    signed = (
        "https://hooks.example.com/hubspot?x/c_1?return=https://a.example/p;q"
        "&who=me@example.com&s=!$'()*,&space=a%20b&plus=%2B"
    )
    secret = "client-secret"
    stamp = str(seconds(NOW) * 1000)
    headers = {
        "X-HubSpot-Signature-v3": hmac_b64(
            secret, b"POST" + signed.encode() + JSON_BODY + stamp.encode()
        ),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    scheme_for("hubspot_v3").verify(request(headers, JSON_BODY, url=called), [secret], now=NOW)
    # Signing the URL as called (undecoded) is not what HubSpot does.
    headers["X-HubSpot-Signature-v3"] = hmac_b64(
        secret, b"POST" + called.encode() + JSON_BODY + stamp.encode()
    )
    with pytest.raises(SignatureError) as info:
        scheme_for("hubspot_v3").verify(request(headers, JSON_BODY, url=called), [secret], now=NOW)
    assert info.value.reason == "mismatch"


def test_hubspot_v3_signs_the_method() -> None:
    req = sign_hubspot("client-secret", JSON_BODY, NOW)
    put = InboundRequest("PUT", req.url, req.headers, req.body, NOW)
    with pytest.raises(SignatureError) as info:
        scheme_for("hubspot_v3").verify(put, ["client-secret"], now=NOW)
    assert info.value.reason == "mismatch"


def test_hubspot_v3_timestamp_is_in_milliseconds() -> None:
    req = sign_hubspot("client-secret", JSON_BODY, NOW)
    in_seconds = str(seconds(NOW))
    signature = hmac_b64("client-secret", b"POST" + URL.encode() + JSON_BODY + in_seconds.encode())
    req = with_headers(
        req, x_hubspot_request_timestamp=in_seconds, x_hubspot_signature_v3=signature
    )
    with pytest.raises(SignatureError) as info:
        scheme_for("hubspot_v3").verify(req, ["client-secret"], now=NOW)
    assert info.value.reason == "stale"


# -- Xero --------------------------------------------------------------------------------------

XERO_KEY = "xero-webhook-key-0123456789abcdef"


@pytest.mark.parametrize("valid", [True, False])
def test_xero_intent_to_receive(valid: bool) -> None:
    """Xero's handshake: empty-event deliveries, some correctly signed (answer 200), some not
    (answer 401) -- built per Xero's documented algorithm."""
    body = b'{"events":[],"firstEventSequence": 0,"lastEventSequence": 0, "entropy": "S0ME"}'
    signature = hmac_b64(XERO_KEY if valid else "not-the-key", body)
    req = request({"x-xero-signature": signature}, body)
    if valid:
        scheme_for("xero").verify(req, [XERO_KEY], now=NOW)
    else:
        with pytest.raises(SignatureError) as info:
            scheme_for("xero").verify(req, [XERO_KEY], now=NOW)
        assert info.value.http_status == 401


@pytest.mark.parametrize("value", ["not base64!", "abc$", "====="])
def test_base64_schemes_refuse_non_base64(value: str) -> None:
    for name, header in [
        ("xero", "x-xero-signature"),
        ("shopify", "x-shopify-hmac-sha256"),
        ("square", "x-square-hmacsha256-signature"),
    ]:
        with pytest.raises(SignatureError) as info:
            scheme_for(name).verify(request({header: value}, JSON_BODY), ["k"], now=NOW)
        assert info.value.reason == "malformed"


def test_shopify_accepts_the_hex_digest_nowhere() -> None:
    req = request({"X-Shopify-Hmac-Sha256": hmac_hex("k", JSON_BODY)}, JSON_BODY)
    with pytest.raises(SignatureError):
        scheme_for("shopify").verify(req, ["k"], now=NOW)


# -- Twilio ------------------------------------------------------------------------------------

TWILIO_TOKEN = "12345678901234567890123456789012"


def test_twilio_sdk_agrees_with_the_same_form_delivery() -> None:
    body = urlencode(TWILIO_PARAMS).encode()
    req = sign_twilio_form(TWILIO_TOKEN, body, NOW)
    validator = RequestValidator(TWILIO_TOKEN)
    assert validator.validate(URL, TWILIO_PARAMS, req.headers["x-twilio-signature"])
    scheme_for("twilio").verify(req, [TWILIO_TOKEN], now=NOW)


def test_twilio_sdk_agrees_with_the_same_json_delivery() -> None:
    req = sign_twilio_json(TWILIO_TOKEN, JSON_BODY, NOW)
    validator = RequestValidator(TWILIO_TOKEN)
    assert validator.validate(req.url, JSON_BODY.decode(), req.headers["x-twilio-signature"])
    scheme_for("twilio").verify(req, [TWILIO_TOKEN], now=NOW)


def test_twilio_json_body_must_match_its_hash() -> None:
    req = sign_twilio_json(TWILIO_TOKEN, JSON_BODY, NOW)
    tampered = with_body(req, JSON_BODY.replace(b"evt_1", b"evt_2"))
    with pytest.raises(SignatureError) as info:
        scheme_for("twilio").verify(tampered, [TWILIO_TOKEN], now=NOW)
    assert info.value.reason == "mismatch"


@pytest.mark.parametrize("value", ["zz", "", "abc"])
def test_twilio_malformed_body_hash(value: str) -> None:
    validator = RequestValidator(TWILIO_TOKEN)
    url = URL + "&bodySHA256=" + value
    req = request({"X-Twilio-Signature": validator.compute_signature(url, {})}, JSON_BODY, url=url)
    with pytest.raises(SignatureError) as info:
        scheme_for("twilio").verify(req, [TWILIO_TOKEN], now=NOW)
    assert info.value.reason == "malformed"


def test_twilio_repeated_parameters_and_blank_values() -> None:
    params = [
        ("MediaUrl", "https://b.example/2"),
        ("MediaUrl", "https://a.example/1"),
        ("Body", ""),
        ("To", "+15005550001"),
    ]
    body = urlencode(params).encode()
    signed = URL + "".join(
        name + value for name, value in sorted(params)
    )  # names sorted, then each value sorted
    signature = base64.b64encode(
        hmac.new(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    ).decode()
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    scheme_for("twilio").verify(request(headers, body), [TWILIO_TOKEN], now=NOW)


def test_twilio_form_needs_the_form_content_type() -> None:
    req = sign_twilio_form(TWILIO_TOKEN, urlencode(TWILIO_PARAMS).encode(), NOW)
    for content_type in (None, "application/json", "text/plain"):
        changed = with_headers(req, content_type=content_type)
        with pytest.raises(SignatureError) as info:
            scheme_for("twilio").verify(changed, [TWILIO_TOKEN], now=NOW)
        assert info.value.reason == "malformed"
    charset = with_headers(req, content_type="Application/X-WWW-Form-Urlencoded; charset=utf-8")
    scheme_for("twilio").verify(charset, [TWILIO_TOKEN], now=NOW)


def test_twilio_get_signs_the_url_only() -> None:
    url = URL + "&From=%2B15005550006&CallSid=CA123"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, {})
    req = request({"X-Twilio-Signature": signature}, b"", url=url, method="GET")
    scheme_for("twilio").verify(req, [TWILIO_TOKEN], now=NOW)


@pytest.mark.parametrize(
    ("signed_url", "called_url"),
    [
        ("https://hooks.example.com:443/t?x=1", "https://hooks.example.com/t?x=1"),
        ("https://hooks.example.com/t?x=1", "https://hooks.example.com:443/t?x=1"),
    ],
)
def test_twilio_default_port_either_way(signed_url: str, called_url: str) -> None:
    body = urlencode(TWILIO_PARAMS).encode()
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(signed_url, TWILIO_PARAMS)
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    scheme_for("twilio").verify(request(headers, body, url=called_url), [TWILIO_TOKEN], now=NOW)


def test_twilio_shared_key_hmac_sha256() -> None:
    body = urlencode(TWILIO_PARAMS).encode()
    shared = "shared-key-secret-value"
    validator = RequestValidator(shared)
    signature = validator.compute_signature(URL, TWILIO_PARAMS, algorithm="HMAC_SHA256")
    headers = {
        "X-Twilio-Signature": signature,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    assert validator.validate(URL, TWILIO_PARAMS, signature, algorithm="HMAC_SHA256")
    scheme_for("twilio").verify(request(headers, body), [shared], now=NOW)
    # Claiming SHA-1 for a SHA-256 signature does not verify.
    headers["X-Twilio-Webhooks-Signature-Settings"] = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA1"
    with pytest.raises(SignatureError) as info:
        scheme_for("twilio").verify(request(headers, body), [shared], now=NOW)
    assert info.value.reason == "mismatch"
    headers["X-Twilio-Webhooks-Signature-Settings"] = "key=k,algorithm=HMAC_MD5"
    with pytest.raises(SignatureError) as info:
        scheme_for("twilio").verify(request(headers, body), [shared], now=NOW)
    assert info.value.reason == "malformed"


# -- Standard Webhooks -------------------------------------------------------------------------


def test_standard_webhooks_package_agrees_with_the_same_delivery() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    req = sign_standard(STD_SECRET, JSON_BODY, now)
    assert standardwebhooks.Webhook(STD_SECRET).verify(JSON_BODY, dict(req.headers)) == json.loads(
        JSON_BODY
    )
    scheme_for("standard_webhooks").verify(req, [STD_SECRET], now=now)


def test_standard_webhooks_several_signatures_and_versions() -> None:
    req = sign_standard(STD_SECRET, JSON_BODY, NOW)
    other = sign_standard(STD_OTHER, JSON_BODY, NOW).headers["webhook-signature"]
    header = f"v1a,{'A' * 86}== {other} v2,AAAA {req.headers['webhook-signature']}"
    scheme_for("standard_webhooks").verify(
        with_headers(req, webhook_signature=header), [STD_SECRET], now=NOW
    )


def test_standard_webhooks_secret_without_prefix() -> None:
    req = sign_standard(STD_SECRET, JSON_BODY, NOW)
    bare = STD_SECRET.removeprefix("whsec_")
    scheme_for("standard_webhooks").verify(req, [bare], now=NOW)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "whsec_@@@@"])
def test_standard_webhooks_unusable_secret(secret: str) -> None:
    req = sign_standard(STD_SECRET, JSON_BODY, NOW)
    with pytest.raises(SignatureError) as info:
        scheme_for("standard_webhooks").verify(req, [secret], now=NOW)
    assert info.value.reason == "no_secret"
    encoded = secret.removeprefix("whsec_")
    assert not encoded or encoded not in str(info.value)


@pytest.mark.parametrize("value", ["v2,AAAA", "v1,", "v1,***", "AAAA"])
def test_standard_webhooks_malformed_signature(value: str) -> None:
    req = with_headers(sign_standard(STD_SECRET, JSON_BODY, NOW), webhook_signature=value)
    with pytest.raises(SignatureError) as info:
        scheme_for("standard_webhooks").verify(req, [STD_SECRET], now=NOW)
    assert info.value.reason == "malformed"


def test_standard_webhooks_id_is_signed() -> None:
    req = with_headers(sign_standard(STD_SECRET, JSON_BODY, NOW), webhook_id="msg_other")
    with pytest.raises(SignatureError) as info:
        scheme_for("standard_webhooks").verify(req, [STD_SECRET], now=NOW)
    assert info.value.reason == "mismatch"


# -- Svix --------------------------------------------------------------------------------------


def test_svix_package_agrees_with_the_same_delivery() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    req = sign_svix(STD_SECRET, JSON_BODY, now)
    svix.webhooks.Webhook(STD_SECRET).verify(JSON_BODY, dict(req.headers))
    scheme_for("svix").verify(req, [STD_SECRET], now=now)
    changed = with_body(req, JSON_BODY.replace(b"evt_1", b"evt_2"))
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(STD_SECRET).verify(changed.body, dict(changed.headers))
    with pytest.raises(SignatureError) as info:
        scheme_for("svix").verify(changed, [STD_SECRET], now=now)
    assert info.value.reason == "mismatch"


def test_svix_stale_delivery_the_package_refuses_too() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    req = sign_svix(STD_SECRET, JSON_BODY, now - timedelta(minutes=10))
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix.webhooks.Webhook(STD_SECRET).verify(JSON_BODY, dict(req.headers))
    with pytest.raises(SignatureError) as info:
        scheme_for("svix").verify(req, [STD_SECRET], now=now)
    assert info.value.reason == "stale"


def test_svix_several_signatures_one_per_secret() -> None:
    req = sign_svix(STD_SECRET, JSON_BODY, NOW)
    other = sign_svix(STD_OTHER, JSON_BODY, NOW).headers["svix-signature"]
    header = f"{other} {req.headers['svix-signature']}"
    scheme_for("svix").verify(with_headers(req, svix_signature=header), [STD_SECRET], now=NOW)


def test_svix_reads_its_own_headers_and_standard_webhooks_its_own() -> None:
    """The same signature under the other family's header names is not a delivery of it."""
    svix_req = sign_svix(STD_SECRET, JSON_BODY, NOW)
    renamed = request(
        {name.replace("svix-", "webhook-"): v for name, v in svix_req.headers.items()}, JSON_BODY
    )
    with pytest.raises(SignatureError) as info:
        scheme_for("svix").verify(renamed, [STD_SECRET], now=NOW)
    assert info.value.reason == "missing_header"
    # ... which is a Standard Webhooks delivery: the algorithm is the same.
    scheme_for("standard_webhooks").verify(renamed, [STD_SECRET], now=NOW)


# -- SendGrid ----------------------------------------------------------------------------------

# The vector of sendgrid-python's test/unit/test_eventwebhook.py (SendGrid's own helper).
SENDGRID_DOCS_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw"
    "+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SENDGRID_DOCS_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQ"
    "AbPIqHh89M15TluLtEZtM="
)
SENDGRID_DOCS_TIMESTAMP = "1600112502"
SENDGRID_DOCS_BODY = (
    json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58"
                "-kmzbl-18-5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    + "\r\n"
).encode()


def sendgrid_docs_request(body: bytes = SENDGRID_DOCS_BODY) -> InboundRequest:
    return request(
        {
            "X-Twilio-Email-Event-Webhook-Signature": SENDGRID_DOCS_SIGNATURE,
            "X-Twilio-Email-Event-Webhook-Timestamp": SENDGRID_DOCS_TIMESTAMP,
        },
        body,
    )


def test_sendgrid_published_vector() -> None:
    signed_at = datetime.fromtimestamp(int(SENDGRID_DOCS_TIMESTAMP), UTC)
    scheme_for("sendgrid").verify(sendgrid_docs_request(), [SENDGRID_DOCS_KEY], now=signed_at)
    changed = bytearray(SENDGRID_DOCS_BODY)
    changed[10] ^= 0x01
    with pytest.raises(SignatureError) as info:
        scheme_for("sendgrid").verify(
            sendgrid_docs_request(bytes(changed)), [SENDGRID_DOCS_KEY], now=signed_at
        )
    assert info.value.reason == "mismatch"
    # Genuine, but long ago: stale.
    with pytest.raises(SignatureError) as info:
        scheme_for("sendgrid").verify(sendgrid_docs_request(), [SENDGRID_DOCS_KEY], now=NOW)
    assert info.value.reason == "stale"


def test_sendgrid_helper_agrees_with_the_same_delivery() -> None:
    req = sign_sendgrid(SENDGRID_KEY, JSON_BODY, NOW)
    assert EventWebhook(SENDGRID_KEY).verify_signature(
        JSON_BODY.decode(),
        req.headers["x-twilio-email-event-webhook-signature"],
        req.headers["x-twilio-email-event-webhook-timestamp"],
    )
    scheme_for("sendgrid").verify(req, [SENDGRID_KEY], now=NOW)


def test_sendgrid_key_as_pem() -> None:
    req = sign_sendgrid(SENDGRID_KEY, JSON_BODY, NOW)
    pem = (
        SENDGRID_KEYS[SENDGRID_KEY]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    scheme_for("sendgrid").verify(req, [pem.decode()], now=NOW)


def _other_public_key(private: Any) -> str:
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.mark.parametrize(
    "key",
    [
        "not a key",
        base64.b64encode(b"not DER at all").decode(),
        _other_public_key(ec.generate_private_key(ec.SECP384R1())),
        STD_SECRET,
    ],
    ids=["text", "not-der", "p384", "whsec"],
)
def test_sendgrid_key_that_is_not_a_p256_public_key(key: str) -> None:
    req = sign_sendgrid(SENDGRID_KEY, JSON_BODY, NOW)
    with pytest.raises(SignatureError) as info:
        scheme_for("sendgrid").verify(req, [key], now=NOW)
    assert info.value.reason == "no_secret"


@pytest.mark.parametrize("value", ["***", "AAAA", base64.b64encode(b"\x30\x02\x01").decode()])
def test_sendgrid_signature_that_is_not_one(value: str) -> None:
    req = sign_sendgrid(SENDGRID_KEY, JSON_BODY, NOW)
    bad = with_headers(req, x_twilio_email_event_webhook_signature=value)
    with pytest.raises(SignatureError) as info:
        scheme_for("sendgrid").verify(bad, [SENDGRID_KEY], now=NOW)
    assert info.value.reason == ("malformed" if value == "***" else "mismatch")


def test_sendgrid_timestamp_is_signed() -> None:
    req = sign_sendgrid(SENDGRID_KEY, JSON_BODY, NOW)
    moved = with_headers(req, x_twilio_email_event_webhook_timestamp=str(seconds(NOW) + 1))
    with pytest.raises(SignatureError) as info:
        scheme_for("sendgrid").verify(moved, [SENDGRID_KEY], now=NOW)
    assert info.value.reason == "mismatch"


# -- PagerDuty (hmac with a separator) ---------------------------------------------------------

PD_SECRET = "pagerduty-signing-secret"


@pytest.mark.parametrize(
    "template",
    [
        "v1={good}",
        "v1={bad},v1={good}",
        "v1={good},v1={bad}",
        "v1={bad}, v1={good}",
        "v2={bad},v1={good}",
        "v1=not-hex,v1={good}",
    ],
)
def test_pagerduty_any_listed_signature_may_match(template: str) -> None:
    header = template.format(good=hmac_hex(PD_SECRET, JSON_BODY), bad="ab" * 32)
    req = request({"X-PagerDuty-Signature": header}, JSON_BODY)
    scheme_for("hmac", PAGERDUTY_OPTIONS).verify(req, [PD_SECRET], now=NOW)


def test_pagerduty_without_the_separator_option_reads_one_signature() -> None:
    header = f"v1={'ab' * 32},v1={hmac_hex(PD_SECRET, JSON_BODY)}"
    req = request({"X-PagerDuty-Signature": header}, JSON_BODY)
    single = {k: v for k, v in PAGERDUTY_OPTIONS.items() if k != "separator"}
    with pytest.raises(SignatureError) as info:
        scheme_for("hmac", single).verify(req, [PD_SECRET], now=NOW)
    assert info.value.reason == "malformed"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"v1={'ab' * 32},v1={'cd' * 32}", "mismatch"),
        ("v2=abcd,v3=ef01", "malformed"),
        ("v1=zz,v1=", "malformed"),
        (",,,", "malformed"),
    ],
)
def test_pagerduty_refusals(header: str, reason: str) -> None:
    req = request({"X-PagerDuty-Signature": header}, JSON_BODY)
    with pytest.raises(SignatureError) as info:
        scheme_for("hmac", PAGERDUTY_OPTIONS).verify(req, [PD_SECRET], now=NOW)
    assert info.value.reason == reason


# -- generic hmac ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "value"),
    [
        ({"header": "X-Sig"}, lambda s, b: hmac_hex(s, b)),
        (
            {"header": "X-Sig", "algorithm": "sha1", "prefix": "sha1="},
            lambda s, b: "sha1=" + hmac_hex(s, b, "sha1"),
        ),
        (
            {"header": "X-Sig", "algorithm": "sha512", "encoding": "hex"},
            lambda s, b: hmac_hex(s, b, "sha512").upper(),
        ),
        ({"header": "X-Sig", "encoding": "base64"}, lambda s, b: hmac_b64(s, b)),
    ],
)
def test_generic_hmac_options(options: dict[str, str], value: Callable[[str, bytes], str]) -> None:
    req = request({"X-Sig": value("k", JSON_BODY)}, JSON_BODY)
    scheme_for("hmac", options).verify(req, ["k"], now=NOW)
    with pytest.raises(SignatureError):
        scheme_for("hmac", options).verify(with_body(req, JSON_BODY + b"\n"), ["k"], now=NOW)


def test_generic_hmac_prefix_is_required() -> None:
    options = {"header": "X-Sig", "prefix": "sha256="}
    req = request({"X-Sig": hmac_hex("k", JSON_BODY)}, JSON_BODY)
    with pytest.raises(SignatureError) as info:
        scheme_for("hmac", options).verify(req, ["k"], now=NOW)
    assert info.value.reason == "malformed"


def test_generic_hmac_wrong_algorithm_does_not_verify() -> None:
    req = request({"X-Sig": hmac_hex("k", JSON_BODY, "sha1")}, JSON_BODY)
    with pytest.raises(SignatureError) as info:
        scheme_for("hmac", {"header": "X-Sig"}).verify(req, ["k"], now=NOW)
    assert info.value.reason == "mismatch"


@pytest.mark.parametrize(
    "options",
    [
        None,
        {},
        {"algorithm": "sha256"},
        {"header": "X-Sig", "algorithm": "md5"},
        {"header": "X-Sig", "algorithm": "SHA256"},
        {"header": "X-Sig", "encoding": "base32"},
        {"header": "X Sig"},
        {"header": ""},
        {"header": "X-Sig", "algoritm": "sha1"},
        {"header": "X-Sig", "prefix": 3},
        {"header": "X-Sig", "event_id_header": "bad header"},
        {"header": "X-Sig", "separator": "="},
        {"header": "X-Sig", "separator": ",,"},
        {"header": "X-Sig", "separator": "a"},
    ],
)
def test_generic_hmac_bad_options(options: dict[str, Any] | None) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any configuration error
        scheme_for("hmac", options)


# -- none --------------------------------------------------------------------------------------


def test_none_accepts_anything_when_chosen_explicitly() -> None:
    scheme = scheme_for("none")
    assert scheme.name == "none"
    assert scheme.verifies is False
    scheme.verify(request({}, b"anything"), [], now=NOW)
    scheme.verify(request({"x-whatever": "1"}, b""), ["ignored"], now=NOW)
    assert scheme_for("none", {"event_id_header": "X-Event-Id"}).event_id_header == "x-event-id"


@pytest.mark.parametrize("name", ["", "None", "NONE", "unsigned", "stripe ", "hmac-sha256"])
def test_unknown_names_never_fall_back_to_none(name: str) -> None:
    with pytest.raises(ValueError, match="unknown webhook signature scheme"):
        scheme_for(name)


# -- registry ----------------------------------------------------------------------------------


def test_registry_covers_exactly_the_catalog_schemes() -> None:
    assert set(SCHEME_NAMES) == set(get_args(WebhookScheme))
    assert len(SCHEME_NAMES) == len(set(SCHEME_NAMES))


@pytest.mark.parametrize("name", [n for n in SCHEME_NAMES if n != "hmac"])
def test_every_scheme_is_registered_under_its_name(name: str) -> None:
    scheme = scheme_for(name)
    assert scheme.name == name
    assert scheme.verifies is (name != "none")


def test_every_signing_scheme_refuses_an_unsigned_request() -> None:
    for name in SCHEME_NAMES:
        if name == "none":
            continue
        options = {"header": "X-Sig"} if name == "hmac" else None
        secret = {"standard_webhooks": STD_SECRET, "svix": STD_SECRET}.get(name, "k")
        secret = SENDGRID_KEY if name == "sendgrid" else secret
        with pytest.raises(SignatureError) as info:
            scheme_for(name, options).verify(request({}, JSON_BODY), [secret], now=NOW)
        assert info.value.reason == "missing_header"


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("stripe", None),
        ("shopify", "x-shopify-event-id"),
        ("slack", None),
        ("github", "x-github-delivery"),
        ("hubspot_v3", None),
        ("square", None),
        ("xero", None),
        ("twilio", "i-twilio-idempotency-token"),
        ("standard_webhooks", "webhook-id"),
        ("svix", "svix-id"),
        ("sendgrid", None),
        ("none", None),
    ],
)
def test_event_id_headers(name: str, header: str | None) -> None:
    assert event_id_header(name) == header
    assert scheme_for(name).event_id_header == header


def test_generic_hmac_event_id_header_is_an_option() -> None:
    assert event_id_header("hmac", {"header": "X-Sig"}) is None
    assert event_id_header("hmac", {"header": "X-Sig", "event_id_header": "X-Id"}) == "x-id"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("stripe", {"tolerance": 10}),
        ("stripe", {"tolerance_seconds": 0}),
        ("stripe", {"tolerance_seconds": -1}),
        ("stripe", {"tolerance_seconds": "300"}),
        ("stripe", {"tolerance_seconds": True}),
        ("slack", {"tolerance_seconds": 10**9}),
        ("github", {"header": "X-Other"}),
        ("shopify", {"tolerance_seconds": 300}),
        ("twilio", {"algorithm": "sha256"}),
        ("none", {"accept": True}),
    ],
)
def test_unknown_or_bad_options_are_refused(name: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any configuration error
        scheme_for(name, options)

"""An action that fails after the provider acted, run under an ``Idempotency-Key``.

The provider answered a create with a 2xx, so the contact or message exists, but the run
fails after it (an answer that is not what the action promises). Freeing the key would let
the caller's retry create a second one; so the failure is the key's answer for 24 h, replayed
(``details.replayed``) without a second request, and only a new key acts again. An action
that sends the key to its provider (Stripe's ``Idempotency-Key``) is deduplicated there: its
key is freed as before, and a failure the provider did not act on (a 5xx) always frees it."""

from __future__ import annotations

from typing import Any

from tests.support.provider_world import ACME, World

CREATE_CONTACT = "post-/crm/v3/objects/contacts_create"


def _error(answer: Any) -> dict[str, Any]:
    error: dict[str, Any] = answer.get_json()["error"]
    return error


def test_a_create_that_failed_after_the_provider_acted_is_not_run_again(world: World) -> None:
    hubspot = world.connect("hubspot", ACME)
    body = {"email": "ann@example.com"}
    world.apis.answer_next(b'{"unexpected": true}')  # created, then answered off its schema
    first = world.run(hubspot, "create_contact", body, ACME, key="ann-1")
    assert (first.status_code, _error(first)["code"]) == (502, "PROVIDER_ERROR")
    assert "replayed" not in _error(first).get("details", {})
    again = world.run(hubspot, "create_contact", body, ACME, key="ann-1")
    assert again.status_code == 502
    replayed = _error(again)
    assert replayed["code"] == "PROVIDER_ERROR"
    assert replayed["message"] == _error(first)["message"]
    assert replayed["details"]["replayed"] is True
    assert replayed["details"]["suggestion"] == _error(first)["details"]["suggestion"]
    assert world.apis.count(CREATE_CONTACT) == 1
    assert len(world.apis.state.contacts) == 1
    # the same key for another input is still refused; a new key acts again
    other = world.run(hubspot, "create_contact", {"email": "bo@example.com"}, ACME, key="ann-1")
    assert (other.status_code, _error(other)["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    fresh = world.run(hubspot, "create_contact", {"email": "cy@example.com"}, ACME, key="cy-1")
    assert fresh.status_code == 200, fresh.get_json()
    assert world.apis.count(CREATE_CONTACT) == 2


def test_a_registered_function_that_failed_after_sending_is_not_run_again(world: World) -> None:
    gmail = world.connect("gmail", ACME)
    mail = {"to": ["ann@example.com"], "subject": "Hello", "text": "Hi"}
    world.apis.answer_next(b'[["id", "m1"]]')  # sent, then answered with no message
    first = world.run(gmail, "send_email", mail, ACME, key="mail-1")
    again = world.run(gmail, "send_email", mail, ACME, key="mail-1")
    assert first.status_code == again.status_code == 502
    assert _error(again)["details"]["replayed"] is True
    assert len(world.apis.state.messages) == 1
    before = world.container.store.list_audit("acme", connection_id=gmail)
    assert [(e.action, e.detail.get("ok"), e.detail.get("code")) for e in before[:1]] == [
        ("action.run", False, "PROVIDER_ERROR")
    ]


def test_a_failure_the_provider_did_not_act_on_frees_the_key(world: World) -> None:
    hubspot = world.connect("hubspot", ACME)
    body = {"email": "dan@example.com"}
    world.apis.fail_next(500)
    failed = world.run(hubspot, "create_contact", body, ACME, key="dan-1")
    assert failed.status_code == 502
    retried = world.run(hubspot, "create_contact", body, ACME, key="dan-1")
    assert retried.status_code == 200, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers
    assert len(world.apis.state.contacts) == 1

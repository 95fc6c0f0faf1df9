"""The `demo` catalog entry declares its issuer (a template over its `base_url`), so its flow
checks `iss` like any provider's (RFC 9207), against the local provider over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.functions.oauth_harness import DEMO_CLIENTS, RETURN_TO, Flow, clock, running_flow
from tether.config import Settings
from tether.domain.clock import FixedClock
from tether_emulators.oauth_provider import OAuthProvider

__all__ = ["clock"]  # fixtures


@pytest.fixture
def demo(settings: Settings, oauth_provider: OAuthProvider, clock: FixedClock) -> Iterator[Flow]:
    yield from running_flow(settings, oauth_provider, clock, oauth_clients=DEMO_CLIENTS)


def _start(demo: Flow) -> dict[str, str]:
    started = demo.authorize(
        {"provider": "demo", "config": {"base_url": demo.provider.url}, "return_to": RETURN_TO}
    )
    return demo.browser(started["authorization_url"])


def test_the_demo_flow_accepts_its_own_issuer(demo):
    returned = _start(demo)
    assert returned["iss"] == demo.provider.url
    status, outcome, _ = demo.finish(returned)
    assert (status, outcome.get("status")) == (302, "active"), outcome


def test_the_demo_flow_refuses_another_issuer(demo):
    demo.provider.issuer = "http://127.0.0.1:1"
    status, outcome, _ = demo.finish(_start(demo))
    assert (status, outcome["error"]) == (302, "issuer_mismatch")
    assert demo.connection_count() == 0


def test_the_demo_flow_refuses_an_answer_without_iss(demo):
    returned = {k: v for k, v in _start(demo).items() if k != "iss"}
    status, outcome, _ = demo.finish(returned)
    assert (status, outcome["error"]) == (302, "issuer_missing")
    assert demo.connection_count() == 0
    assert demo.provider.stats.get("token.authorization_code", 0) == 0

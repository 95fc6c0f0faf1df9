"""The OAuthStateRepository contract: every backend passes all of it (key rotation's scans
and swaps are in ``test_key_rotation_contract.py``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.records import (
    T0,
    _state,
)
from tests.support.concurrency import together
from tether.domain.errors import Conflict
from tether.ports import (
    OAuthStateRepository,
)


def test_oauth_state_is_single_use(oauth_states: OAuthStateRepository) -> None:
    oauth_states.create_oauth_state(_state("s1"))
    with pytest.raises(Conflict):
        oauth_states.create_oauth_state(_state("s1"))
    first = oauth_states.consume_oauth_state("s1", now=T0)
    assert first is not None and first.used_at is None
    replay = oauth_states.consume_oauth_state("s1", now=T0 + timedelta(seconds=5))
    assert replay is not None and replay.used_at == T0
    assert oauth_states.consume_oauth_state("unknown", now=T0) is None


def test_oauth_state_concurrent_consume_has_one_winner(oauth_states: OAuthStateRepository) -> None:
    oauth_states.create_oauth_state(_state("race"))

    def consume() -> bool:
        got = oauth_states.consume_oauth_state("race", now=T0)
        return got is not None and got.used_at is None

    fresh = [f.result() for f in together([consume] * 8)]
    assert fresh.count(True) == 1

"""One read-modify-write retry for every versioned record, with one ending."""

from __future__ import annotations

import pytest

from tether.domain.compare_and_set import ATTEMPTS, Contended, compare_and_set
from tether.domain.errors import BackendUnavailable, NotFound, VersionConflict


def test_a_conflict_is_tried_again_on_a_fresh_read():
    seen: list[bool] = []

    def attempt(again: bool) -> str:
        seen.append(again)
        if len(seen) < 3:
            raise VersionConflict("someone wrote first")
        return "stored"

    assert compare_and_set(attempt, what="the record") == "stored"
    assert seen == [False, True, True]


def test_running_out_of_attempts_ends_one_way():
    calls: list[bool] = []

    def attempt(again: bool) -> None:
        calls.append(again)
        raise VersionConflict("someone wrote first")

    with pytest.raises(Contended) as ended:
        compare_and_set(attempt, what="the record")
    assert len(calls) == ATTEMPTS
    assert isinstance(ended.value, BackendUnavailable)
    assert (ended.value.code, ended.value.http_status, ended.value.retryable) == (
        "CONTENDED",
        503,
        True,
    )
    assert "the record" in ended.value.message


def test_other_errors_are_not_retried():
    calls: list[bool] = []

    def attempt(again: bool) -> None:
        calls.append(again)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        compare_and_set(attempt, what="the record")
    assert calls == [False]

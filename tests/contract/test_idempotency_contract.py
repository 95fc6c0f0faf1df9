"""The IdempotencyKeys contract: the embedded store and Firestore (on its emulator) pass all
of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.contract.records import T0
from tether.domain.models import IdempotencyRecord
from tether.ports import ExpiredRecordPurge, IdempotencyKeys


@dataclass
class Backend:
    keys: IdempotencyKeys
    # The store's purge, which housekeeping runs, over the same file or database.
    purge: ExpiredRecordPurge


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        from tether.adapters.sqlite.database import SqliteDatabase
        from tether.adapters.sqlite.idempotency_keys import SqliteIdempotencyKeys
        from tether.adapters.sqlite.purge import SqlitePurge

        store = SqliteIdempotencyKeys(tmp_path / "store.db")
        database = SqliteDatabase(tmp_path / "store.db")
        yield Backend(store, SqlitePurge(database))
        database.close()
        store.close()
    else:
        from tether.adapters.firestore.documents import FirestoreDatabase
        from tether.adapters.firestore.idempotency_keys import FirestoreIdempotencyKeys
        from tether.adapters.firestore.purge import FirestorePurge

        client = request.getfixturevalue("firestore_client")
        yield Backend(FirestoreIdempotencyKeys(client), FirestorePurge(FirestoreDatabase(client)))


@pytest.fixture
def keys(backend: Backend) -> IdempotencyKeys:
    return backend.keys


def _record(
    owner: str,
    *,
    tenant: str = "acme",
    key: str = "k1",
    request: str = "r1",
    at: datetime = T0,
) -> IdempotencyRecord:
    return IdempotencyRecord(
        tenant_id=tenant,
        key=key,
        request_hash=request,
        owner=owner,
        created_at=at,
        expires_at=at + timedelta(minutes=5),
    )


def test_a_claimed_key_answers_its_holder_then_its_answer(keys: IdempotencyKeys) -> None:
    assert keys.claim_idempotency_key(_record("a"), now=T0) is None
    held = keys.claim_idempotency_key(_record("b"), now=T0)
    assert held is not None and (held.owner, held.state, held.answer) == ("a", "pending", None)
    keys.complete_idempotency_key(
        "acme", "k1", owner="a", answer={"output": {"id": "1"}}, expires_at=T0 + timedelta(hours=24)
    )
    done = keys.claim_idempotency_key(_record("c"), now=T0 + timedelta(hours=1))
    assert done is not None and done.state == "done" and done.answer == {"output": {"id": "1"}}
    assert done.request_hash == "r1"


def test_keys_are_per_tenant_and_free_again_after_expiry(keys: IdempotencyKeys) -> None:
    assert keys.claim_idempotency_key(_record("a"), now=T0) is None
    assert keys.claim_idempotency_key(_record("b", tenant="globex"), now=T0) is None
    keys.complete_idempotency_key(
        "acme", "k1", owner="a", answer={"output": {}}, expires_at=T0 + timedelta(hours=24)
    )
    later = T0 + timedelta(hours=24, seconds=1)
    assert keys.claim_idempotency_key(_record("c", request="r2", at=later), now=later) is None
    held = keys.claim_idempotency_key(_record("d", at=later), now=later)
    assert held is not None and (held.owner, held.request_hash) == ("c", "r2")


def test_a_pending_claim_expires_and_only_its_owner_completes_or_releases(
    keys: IdempotencyKeys,
) -> None:
    assert keys.claim_idempotency_key(_record("a"), now=T0) is None
    after_crash = T0 + timedelta(minutes=6)
    assert keys.claim_idempotency_key(_record("b", at=after_crash), now=after_crash) is None
    # the first run's late end changes nothing: the key is b's now
    keys.complete_idempotency_key(
        "acme", "k1", owner="a", answer={"output": {"late": True}}, expires_at=after_crash
    )
    keys.release_idempotency_key("acme", "k1", owner="a")
    held = keys.claim_idempotency_key(_record("c", at=after_crash), now=after_crash)
    assert held is not None and (held.owner, held.state) == ("b", "pending")
    keys.release_idempotency_key("acme", "k1", owner="b")
    assert keys.claim_idempotency_key(_record("c", at=after_crash), now=after_crash) is None


def test_racing_claims_of_a_free_key_have_one_winner(keys: IdempotencyKeys) -> None:
    winners: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claim(owner: str) -> None:
        start.wait()
        if keys.claim_idempotency_key(_record(owner, key="race"), now=T0) is None:
            with lock:
                winners.append(owner)

    threads = [threading.Thread(target=claim, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_housekeeping_purges_keys_past_their_expiry_and_keeps_the_rest(backend: Backend) -> None:
    """A finished run's key lives 24 hours; a claim whose run never finished, until its
    pending expiry. The store's purge (what housekeeping runs) deletes both once past, of
    every tenant, and leaves a key still answering replays alone."""
    keys, day = backend.keys, timedelta(hours=24)
    assert keys.claim_idempotency_key(_record("a", key="done_old"), now=T0) is None
    keys.complete_idempotency_key(
        "acme", "done_old", owner="a", answer={"output": {"n": 1}}, expires_at=T0 + day
    )
    later = T0 + timedelta(hours=12)
    other = _record("b", tenant="globex", key="done_new", at=later)
    assert keys.claim_idempotency_key(other, now=later) is None
    keys.complete_idempotency_key(
        "globex", "done_new", owner="b", answer={"output": {"n": 2}}, expires_at=later + day
    )
    assert keys.claim_idempotency_key(_record("c", key="stuck"), now=T0) is None
    now = T0 + day + timedelta(minutes=1)
    assert backend.purge.purge_expired(now=now) == 2
    assert backend.purge.purge_expired(now=now) == 0
    kept = keys.claim_idempotency_key(_record("d", tenant="globex", key="done_new"), now=now)
    assert kept is not None and kept.answer == {"output": {"n": 2}}

"""The contract of the db secret store's tombstones, on every place they are kept (the
in-memory one unit tests use included)."""

from __future__ import annotations

from datetime import timedelta

from tether.adapters.db_secrets.retired_versions import ALL_VERSIONS, RetiredVersions, version_of
from tether.domain.clock import FixedClock


def test_a_retired_version_is_retired_and_nothing_else_is(
    retired_versions: RetiredVersions,
) -> None:
    v1, v2 = version_of("tg1.k1.first"), version_of("tg1.k1.second")
    assert not retired_versions.is_retired("t1", "conn_1", v1)
    retired_versions.retire("t1", "conn_1", v1)
    retired_versions.retire("t1", "conn_1", v1)  # idempotent
    assert retired_versions.is_retired("t1", "conn_1", v1)
    assert not retired_versions.is_retired("t1", "conn_1", v2)
    assert not retired_versions.is_retired("t1", "conn_2", v1)
    assert not retired_versions.is_retired("t2", "conn_1", v1)


def test_all_versions_covers_past_and_future_versions_of_one_connection(
    retired_versions: RetiredVersions,
) -> None:
    v1, v2 = version_of("tg1.k1.first"), version_of("tg1.k1.second")
    retired_versions.retire("t1", "conn_1", v1)
    retired_versions.retire("t1", "conn_1", ALL_VERSIONS)
    retired_versions.retire("t1", "conn_1", ALL_VERSIONS)
    assert retired_versions.is_retired("t1", "conn_1", v1)
    assert retired_versions.is_retired("t1", "conn_1", v2)
    assert not retired_versions.is_retired("t1", "conn_2", v1)
    assert not retired_versions.is_retired("t2", "conn_1", v2)
    retired_versions.retire("t1", "conn_1", v2)  # after the fact: still retired
    assert retired_versions.is_retired("t1", "conn_1", v2)


def test_version_of_names_an_envelope_without_holding_it() -> None:
    envelope = "tg1.k1.c2VjcmV0LWNpcGhlcnRleHQ"
    assert envelope not in version_of(envelope)
    assert version_of(envelope) == version_of(envelope) != version_of(envelope + "x")


def test_sqlite_tombstones_outlive_the_instance_that_wrote_them(tmp_path) -> None:
    from tether.adapters.sqlite import SqliteConnectionStore
    from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions

    path = tmp_path / "store.sqlite3"
    store = SqliteConnectionStore(path)  # the store and the tombstones share one file
    first = SqliteRetiredVersions(path)
    first.retire("t1", "conn_1", version_of("tg1.k1.a"))
    first.close()
    second = SqliteRetiredVersions(path)
    assert second.is_retired("t1", "conn_1", version_of("tg1.k1.a"))
    second.close()
    store.close()


def test_a_tombstone_goes_with_the_key_that_sealed_its_version(
    retired_versions: RetiredVersions,
) -> None:
    old, new, gone = version_of("tg1.kold.a"), version_of("tg1.knew.b"), version_of("tg1.kold.c")
    retired_versions.retire("t1", "conn_1", old, key_id="kold")
    retired_versions.retire("t2", "conn_2", new, key_id="knew")
    retired_versions.retire("t1", "conn_3", gone, key_id="kold")
    retired_versions.retire("t1", "conn_3", ALL_VERSIONS, key_id="kold")  # never keyed

    assert retired_versions.forget_key("kold") == 1  # every tenant's, but not the '*'
    assert not retired_versions.is_retired("t1", "conn_1", old)
    assert retired_versions.is_retired("t2", "conn_2", new)
    assert retired_versions.is_retired("t1", "conn_3", gone)
    assert retired_versions.forget_key("kold") == 0


def test_the_db_store_names_the_sealing_key_of_what_it_retires(
    retired_versions: RetiredVersions,
) -> None:
    from tether.adapters.db_secrets import DbSecretStore
    from tether.crypto import Keyring, Sealer

    secrets = DbSecretStore(Sealer(Keyring.generate("kseal")), retired=retired_versions)
    ref = secrets.put(tenant_id="t1", connection_id="conn_1", provider="stripe", payload={"a": 1})
    secrets.retire(tenant_id="t1", connection_id="conn_1", ref=ref)
    assert secrets.forget_key("kother") == 0
    assert secrets.forget_key("kseal") == 1


def test_tombstones_older_than_their_retention_are_purged_across_tenants(
    retired_versions: RetiredVersions,
) -> None:
    from datetime import UTC, datetime, timedelta

    v1, v2 = version_of("tg1.k1.first"), version_of("tg1.k1.second")
    retired_versions.retire("t1", "conn_1", v1, key_id="k1")
    retired_versions.retire("t2", "conn_2", ALL_VERSIONS)
    written = datetime.now(UTC)
    assert retired_versions.purge_retired(written - timedelta(hours=1)) == 0  # all younger
    assert retired_versions.is_retired("t1", "conn_1", v1)
    assert retired_versions.is_retired("t2", "conn_2", v2)

    assert retired_versions.purge_retired(written + timedelta(seconds=1)) == 2
    assert not retired_versions.is_retired("t1", "conn_1", v1)
    assert not retired_versions.is_retired("t2", "conn_2", v2)
    assert retired_versions.purge_retired(written + timedelta(seconds=1)) == 0
    retired_versions.retire("t1", "conn_1", v1)  # a version retired again is retired again
    assert retired_versions.is_retired("t1", "conn_1", v1)


def test_tombstones_are_stamped_by_the_injected_clock(
    retired_versions_on_a_clock: tuple[RetiredVersions, FixedClock],
) -> None:
    """Housekeeping purges by its clock, so the tombstones are stamped by the same one: a
    version retired at the clock's time goes when that time is past the retention."""
    retired, clock = retired_versions_on_a_clock
    v1 = version_of("tg1.k1.first")
    retired.retire("t1", "conn_clock", v1)
    stamped = clock.now()
    assert retired.purge_retired(stamped - timedelta(seconds=1)) == 0
    assert retired.purge_retired(stamped) == 1
    assert not retired.is_retired("t1", "conn_clock", v1)

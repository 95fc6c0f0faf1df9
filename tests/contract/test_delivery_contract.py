"""The DeliveryRepository contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.records import (
    T0,
    _delivery,
)
from tether.domain.errors import InvalidRequest
from tether.domain.models import (
    DeliveryStatus,
)
from tether.ports import (
    DeliveryRepository,
)


def test_delivery_round_trips_and_upserts(deliveries: DeliveryRepository) -> None:
    assert deliveries.get_delivery("t1", "evt_1") is None
    first = _delivery("evt_1")
    deliveries.record_delivery(first)
    assert deliveries.get_delivery("t1", "evt_1") == first
    settled = first.model_copy(
        update={
            "status": DeliveryStatus.DEAD,
            "attempts": 5,
            "last_status_code": 503,
            "last_error": "UNEXPECTED_STATUS",
            "updated_at": T0 + timedelta(hours=1, microseconds=3),
            "next_attempt_at": T0 + timedelta(hours=2),
        }
    )
    deliveries.record_delivery(settled)
    assert deliveries.get_delivery("t1", "evt_1") == settled
    assert [d.status for d in deliveries.list_deliveries("t1")] == [DeliveryStatus.DEAD]


def test_deliveries_are_tenant_scoped(deliveries: DeliveryRepository) -> None:
    deliveries.record_delivery(_delivery("evt_same", "t1", minutes=1))
    deliveries.record_delivery(_delivery("evt_same", "t2", attempts=3))
    one, two = deliveries.get_delivery("t1", "evt_same"), deliveries.get_delivery("t2", "evt_same")
    assert one is not None and one.attempts == 0
    assert two is not None and two.attempts == 3
    assert deliveries.get_delivery("t3", "evt_same") is None
    assert deliveries.list_deliveries("t3") == []
    assert [d.tenant_id for d in deliveries.list_deliveries("t1")] == ["t1"]


def test_deliveries_list_newest_first_by_connection_and_limited(
    deliveries: DeliveryRepository,
) -> None:
    for i in range(6):
        deliveries.record_delivery(
            _delivery(f"evt_{i}", connection_id="conn_a" if i % 2 else "conn_b", minutes=i)
        )
    deliveries.record_delivery(_delivery("evt_own", connection_id=None, minutes=10))
    deliveries.record_delivery(_delivery("evt_tie_a", minutes=20))
    deliveries.record_delivery(_delivery("evt_tie_b", minutes=20))
    assert [d.id for d in deliveries.list_deliveries("t1")] == [
        "evt_tie_b",
        "evt_tie_a",
        "evt_own",
        "evt_5",
        "evt_4",
        "evt_3",
        "evt_2",
        "evt_1",
        "evt_0",
    ]
    assert [d.id for d in deliveries.list_deliveries("t1", limit=2)] == ["evt_tie_b", "evt_tie_a"]
    assert [d.id for d in deliveries.list_deliveries("t1", connection_id="conn_a")] == [
        "evt_5",
        "evt_3",
        "evt_1",
    ]
    assert [d.id for d in deliveries.list_deliveries("t1", connection_id="conn_b", limit=2)] == [
        "evt_4",
        "evt_2",
    ]
    with pytest.raises(InvalidRequest):
        deliveries.list_deliveries("t1", limit=0)

"""The AuditLog contract: every backend passes all of it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.records import T0, _entry
from tether.domain.errors import Conflict
from tether.domain.models import (
    AuditEvent,
)
from tether.ports import (
    AuditLog,
)


def test_audit_is_tenant_scoped_newest_first(audit_log: AuditLog) -> None:
    for i in range(3):
        audit_log.append_audit(
            AuditEvent(
                id=f"aud_{i}",
                tenant_id="t1",
                connection_id="conn_1" if i < 2 else "conn_2",
                action="connection.updated",
                actor="u1",
                at=T0 + timedelta(seconds=i),
                detail={"fields": ["display_name"]},
            )
        )
    assert [e.id for e in audit_log.list_audit("t1")] == ["aud_2", "aud_1", "aud_0"]
    assert [e.id for e in audit_log.list_audit("t1", connection_id="conn_1")] == ["aud_1", "aud_0"]
    assert audit_log.list_audit("t2") == []


def test_an_audit_id_is_used_once_per_tenant(audit_log: AuditLog) -> None:
    audit_log.append_audit(_entry("aud_once"))
    with pytest.raises(Conflict):
        audit_log.append_audit(_entry("aud_once").model_copy(update={"action": "other"}))
    (kept,) = audit_log.list_audit("t1")
    assert kept.action == "connection.updated"


def test_audit_listing_is_limited(audit_log: AuditLog) -> None:
    for i in range(4):
        audit_log.append_audit(
            _entry(f"aud_{i}").model_copy(update={"at": T0 + timedelta(seconds=i)})
        )
    assert [e.id for e in audit_log.list_audit("t1", limit=2)] == ["aud_3", "aud_2"]
    assert [e.id for e in audit_log.list_audit("t1", connection_id="conn_au", limit=1)] == ["aud_3"]
    assert audit_log.list_audit("t1", limit=0) == []
    assert audit_log.list_audit("t1", limit=-1) == []

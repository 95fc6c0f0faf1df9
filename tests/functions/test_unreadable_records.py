"""One unreadable record among good ones, over HTTP and through ``tether keys rotate``: the
record written by an older, laxer version (JSON nested 250 levels deep, beyond what pydantic
reads back) is skipped and named by id, never fails the others or another tenant's work; read
alone it is a 409 RECORD_UNREADABLE, and it can still be deleted."""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from tests.conftest import TEST_JWT_SECRET, TEST_KEYRING, bearer
from tether.bootstrap import Container
from tether.cli import main as tether_cli
from tether.domain.models import Connection
from tether.domain.status import ConnectionStatus

ACME = bearer("acme")
GLOBEX = bearer("globex")
SECRET = "sk_test_51UnreadableRecords0123456789"
# Part of the poisoned record only: it must never come back in a response or a log line.
MARKER = "poisoned-marker-7f3a"


def poison(container: Container, connection_id: str) -> None:
    """Rewrite the stored record the way the API stored deep bodies before they were
    bounded: valid JSON, 250 levels deep in ``metadata``."""
    db = sqlite3.connect(container.settings.sqlite_path)
    try:
        (doc,) = db.execute("SELECT doc FROM connections WHERE id = ?", (connection_id,)).fetchone()
        record = json.loads(doc)
        deep: dict[str, object] = {"marker": MARKER}
        for _ in range(250):
            deep = {"a": deep}
        record["metadata"] = deep
        with db:
            db.execute(
                "UPDATE connections SET doc = ? WHERE id = ?", (json.dumps(record), connection_id)
            )
    finally:
        db.close()


def create(client: FlaskClient, headers: dict[str, str], name: str) -> str:
    response = client.post(
        "/",
        json={"provider": "stripe", "display_name": name, "credentials": {"api_key": SECRET}},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


@pytest.fixture
def three(container: Container, connections_client: FlaskClient) -> list[str]:
    """Three acme connections, the middle one poisoned, and one of globex."""
    ids = [create(connections_client, ACME, name) for name in ("one", "two", "three")]
    create(connections_client, GLOBEX, "other")
    poison(container, ids[1])
    return ids


def test_the_list_skips_the_unreadable_record_and_logs_its_id_only(
    connections_client: FlaskClient, three: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = connections_client.get("/", headers=ACME)
    assert response.status_code == 200
    assert [c["id"] for c in response.get_json()["connections"]] == [three[2], three[0]]
    assert response.get_json()["unreadable"] == [three[1]]  # so the tenant can delete it
    assert MARKER not in response.get_data(as_text=True)
    assert any(three[1] in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert MARKER not in caplog.text
    other = connections_client.get("/", headers=GLOBEX)
    assert [c["display_name"] for c in other.get_json()["connections"]] == ["other"]


def test_reading_it_alone_is_409_record_unreadable(
    connections_client: FlaskClient, three: list[str]
) -> None:
    for path in (f"/{three[1]}", f"/{three[1]}/audit"):
        response = connections_client.get(path, headers=ACME)
        assert response.status_code == 409, path
        assert response.get_json()["error"]["code"] == "RECORD_UNREADABLE"
        assert MARKER not in response.get_data(as_text=True)
    patched = connections_client.patch(f"/{three[1]}", json={"display_name": "x"}, headers=ACME)
    assert patched.status_code == 409
    # another tenant still sees nothing at all
    assert connections_client.get(f"/{three[1]}", headers=GLOBEX).status_code == 404


def test_it_can_be_deleted_and_the_deletion_is_audited(
    container: Container, connections_client: FlaskClient, three: list[str]
) -> None:
    assert connections_client.delete(f"/{three[1]}", headers=GLOBEX).status_code == 404
    response = connections_client.delete(f"/{three[1]}", headers=ACME)
    assert response.status_code == 204
    assert connections_client.get(f"/{three[1]}", headers=ACME).status_code == 404
    assert connections_client.delete(f"/{three[1]}", headers=ACME).status_code == 404
    listed = connections_client.get("/", headers=ACME).get_json()
    assert [c["id"] for c in listed["connections"]] == [three[2], three[0]]
    assert listed["unreadable"] == []
    trail = container.store.list_audit("acme", connection_id=three[1])
    assert [(e.action, e.detail) for e in trail][:1] == [
        ("connection.deleted", {"unreadable": True})
    ]


def _oauth(container: Container, tenant: str, name: str) -> Connection:
    now = container.clock.now()
    connection = Connection(
        id=container.ids.new("conn"),
        tenant_id=tenant,
        provider="google_drive",
        auth_mode="oauth2",
        display_name=name,
        status=ConnectionStatus.ACTIVE,
        token_expires_at=now + timedelta(minutes=1),
        created_at=now,
        updated_at=now,
        created_by="u",
    )
    container.store.create_connection(connection)
    return connection


def test_the_sweep_schedules_every_other_tenants_refresh(
    container: Container, tasks_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    good = [_oauth(container, "acme", "a"), _oauth(container, "globex", "g")]
    bad = _oauth(container, "acme", "bad")
    poison(container, bad.id)
    headers = {"Authorization": f"Bearer {container.task_token}"}
    with caplog.at_level(logging.INFO):
        response = tasks_client.post("/sweep", json={}, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    refreshes = container.tasks.list_tasks(kind="refresh")
    assert sorted(t.payload["connection_id"] for t in refreshes) == sorted(c.id for c in good)
    (summary,) = [r for r in caplog.records if r.getMessage().startswith("token sweep:")]
    assert "'unreadable': 1" in summary.getMessage()
    assert MARKER not in caplog.text


def test_keys_rotate_rotates_the_others_and_reports_the_unreadable_one(
    container: Container,
    three: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TETHER_KEYRING", TEST_KEYRING)
    monkeypatch.setenv("TETHER_DEV_JWT_SECRET", TEST_JWT_SECRET)
    code = tether_cli(["keys", "rotate", "--data-dir", str(container.settings.data_dir)])
    out = capsys.readouterr()
    report = json.loads(out.out)
    # the other two of acme and the one of globex
    assert report["kinds"]["credential_payloads"]["already_current"] == 3
    assert report["failed"] == 0
    assert report["unreadable"] == 1
    assert report["unreadable_records"] == [{"record": "connection", "id": three[1]}]
    assert f"UNREADABLE connection {three[1]}" in out.err
    assert MARKER not in out.out + out.err
    assert code == 1  # not everything could be re-encrypted: the operator must look

"""`tether import` of a Fernet export, through the command, on the embedded stack (SQLite,
the db secret store): 1,000 credentials under two keys (MultiFernet) round-trip, a wrong key
is refused with nothing written, invalid lines are counted and skipped, a dry run writes
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.cli_data_dir import data_dir
from tether.bootstrap import Container
from tether.cli import main
from tether.config import Settings
from tether.connections.commands import ListConnections
from tether.domain.models import Principal

__all__ = ["data_dir"]  # fixtures


def _line(tenant: str, key: str, secret: str, name: str) -> str:
    token = Fernet(key).encrypt(json.dumps({"api_key": secret}).encode()).decode()
    return json.dumps(
        {"tenant": tenant, "provider": "stripe", "display_name": name, "token": token}
    )


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _connections(tenants: list[str]) -> dict[str, dict[str, object]]:
    """display name -> decrypted credentials of every connection of ``tenants``, read back
    through the service as the functions read them."""
    container = Container(Settings.from_env(task_worker=False))
    found: dict[str, dict[str, object]] = {}
    try:
        for tenant in tenants:
            principal = Principal(tenant_id=tenant, user_id="reader")
            cursor = None
            while True:
                page = container.connections.list_connections(
                    principal, ListConnections(limit=200, cursor=cursor)
                )
                for connection in page.items:
                    assert connection.created_by == "tether-import"
                    found[connection.display_name] = container.connections.read_credentials(
                        principal, connection.id, purpose="test"
                    )
                cursor = page.next_cursor
                if cursor is None:
                    break
    finally:
        container.close()
    return found


TENANTS = ["acme", "globex", "initech", "umbrella"]


def test_a_thousand_credentials_under_two_keys_round_trip(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secrets = [f"sk_live_{n:06d}abcdef" for n in range(1000)]
    lines = [
        _line(TENANTS[n % len(TENANTS)], old if n % 2 else new, secret, f"Stripe {n}")
        for n, secret in enumerate(secrets)
    ]
    export = _write(tmp_path / "export.jsonl", lines)
    keys = _write(tmp_path / "keys", [new, old])

    assert main(["import", str(export), "--keys-file", str(keys)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "imported": 1000,
        "already_imported": 0,
        "invalid": 0,
        "failed": 0,
        "problems": [],
    }
    assert "imported 1000, already imported 0, invalid 0, failed 0" in err
    stored = _connections(TENANTS)
    assert len(stored) == 1000
    assert stored == {f"Stripe {n}": {"api_key": s} for n, s in enumerate(secrets)}

    # The same export again (a run cut short is finished this way): nothing stored twice.
    assert main(["import", str(export), "--keys-file", str(keys)]) == 0
    report = json.loads(capsys.readouterr()[0])
    assert (report["imported"], report["already_imported"]) == (0, 1000)
    assert len(_connections(TENANTS)) == 1000
    assert not any(s in out + err for s in secrets)


def test_a_wrong_key_is_refused_with_nothing_written(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    right, wrong = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    lines = [_line("acme", right, f"sk_live_{n:04d}xyz", f"c{n}") for n in range(20)]
    export = _write(tmp_path / "export.jsonl", lines)
    # One key of a MultiFernet pair missing: the tokens under it cannot be opened.
    other = Fernet.generate_key().decode()
    lines.append(_line("acme", other, "sk_live_9999xyz", "c20"))
    _write(export, lines)

    assert main(["import", str(export), "--keys-file", str(_write(tmp_path / "k", [wrong]))]) == 2
    assert "21 token(s) cannot be decrypted" in capsys.readouterr().err
    assert main(["import", str(export), "--keys-file", str(_write(tmp_path / "k", [right]))]) == 2
    err = capsys.readouterr().err
    assert "1 token(s) cannot be decrypted" in err and "lines 21" in err
    assert _connections(["acme"]) == {}


def test_invalid_lines_are_counted_and_skipped_and_a_dry_run_writes_nothing(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = Fernet.generate_key().decode()
    fernet = Fernet(key)
    lines = [
        _line("acme", key, "sk_live_good1", "good 1"),
        _line("acme", key, "not-a-stripe-key", "bad"),  # fails the catalog's credentials schema
        json.dumps({"tenant": "acme", "provider": "no_such_provider",
                    "token": fernet.encrypt(b'{"api_key": "x"}').decode()}),
        json.dumps({"provider": "stripe", "token": fernet.encrypt(b'{"api_key": "y"}').decode()}),
        json.dumps({"tenant": "acme", "provider": "stripe",
                    "token": fernet.encrypt(b"not json").decode()}),
        "not json at all",
        _line("acme", key, "sk_live_good2", "good 2"),
    ]  # fmt: skip
    export = _write(tmp_path / "export.jsonl", lines)
    keys = _write(tmp_path / "keys", [key])

    assert main(["import", str(export), "--keys-file", str(keys), "--dry-run"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["imported"], report["invalid"], report["failed"]) == (2, 5, 0)
    assert _connections(["acme"]) == {}
    # A line repeated within one export is stored once.
    _write(export, [*lines, lines[0]])

    assert main(["import", str(export), "--keys-file", str(keys)]) == 1
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert report["problems"] == [
        {"line": 2, "code": "INVALID_CREDENTIALS"},
        {"line": 3, "code": "UNKNOWN_PROVIDER"},
        {"line": 4, "code": "TENANT_MISSING"},
        {"line": 5, "code": "CREDENTIALS_NOT_JSON"},
        {"line": 6, "code": "LINE_NOT_JSON"},
    ]
    assert (report["imported"], report["already_imported"], report["invalid"]) == (2, 1, 5)
    assert _connections(["acme"]) == {
        "good 1": {"api_key": "sk_live_good1"},
        "good 2": {"api_key": "sk_live_good2"},
    }
    assert "not-a-stripe-key" not in out

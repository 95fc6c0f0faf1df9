"""The ``tether`` command as a newcomer types it: help for every option, and dev tokens that
the running server accepts from wherever they are asked for."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tether import cli


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_option_and_command_has_help_text():
    missing = [
        f"{prog} {action.option_strings or action.dest}"
        for prog, parser in _parsers(cli._parser())
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
        and not action.help
    ]
    assert missing == []


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Recorded so the teardown restores them: the command sets some for itself.
    for name in (
        "TETHER_DATA_DIR",
        "TETHER_DEV_JWT_SECRET",
        "TETHER_TASK_TOKEN",
        "TETHER_MODE",
        "TETHER_AUTH",
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_token_outside_the_project_refuses_instead_of_minting_a_secret(
    elsewhere, monkeypatch, capsys
):
    monkeypatch.chdir(elsewhere)

    assert cli.main(["token", "--tenant", "acme"]) == 2

    error = capsys.readouterr().err
    assert "tether dev" in error and "--data-dir" in error
    assert not (elsewhere / ".tether").exists()  # nothing minted
    assert cli.main(["token", "--tasks"]) == 2


def test_token_from_a_subfolder_uses_the_project_data_dir(elsewhere, monkeypatch, capsys):
    secret = "s" * 48
    (elsewhere / ".tether").mkdir()
    (elsewhere / ".tether" / "dev_jwt_secret").write_text(secret + "\n")
    deep = elsewhere / "docs" / "notes"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)

    assert cli.main(["token", "--tenant", "acme"]) == 0

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["tenant_id"] == "acme"
    assert os.listdir(deep) == []

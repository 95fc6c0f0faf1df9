"""The README's configuration table names every setting Tether reads: a setting added without
its row there fails here."""

from __future__ import annotations

from pathlib import Path

from tether.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
# Settings read from a family of variables, documented by the family's pattern.
FAMILIES = {
    "oauth_clients": "`OAUTH_CLIENT_<PROVIDER>_ID`",
    "webhook_secrets": "`WEBHOOK_SECRET_<PROVIDER>`",
}


def configuration_table() -> str:
    text = README.read_text()
    section = text[text.index("## Configuration") :]
    return section[: section.index("\n## ", 1)]


def test_every_setting_has_a_row_in_the_readme() -> None:
    table = configuration_table()
    missing = [
        name
        for name in Settings.model_fields
        if FAMILIES.get(name, f"`{name.upper()}`") not in table
    ]
    assert missing == []


def test_the_table_names_no_setting_that_does_not_exist() -> None:
    documented = {
        cell.strip("`")
        for line in configuration_table().splitlines()
        if line.startswith("| `")
        for cell in line.split("|")[1].replace(",", " ").split()
    }
    known = {name.upper() for name in Settings.model_fields}
    # The families' patterns, and `_SECRET` beside `OAUTH_CLIENT_<PROVIDER>_ID`.
    patterns = {family.strip("`") for family in FAMILIES.values()} | {"_SECRET"}
    assert documented - known - patterns == set()

"""``requirements.lock`` pins the runtime dependencies of ``pyproject.toml`` (and only those):
the bundle's ``requirements.txt`` is made from it, and ``make install`` installs under it, so
tests run on the versions that get deployed. ``make lock`` regenerates it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tether.bundle import LOCK_FILE, locked_requirements

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    lines = locked_requirements((ROOT / LOCK_FILE).read_text())
    return {canonicalize_name(n): v for n, v in (line.split("==", 1) for line in lines)}


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    """The runtime dependencies and the optional `aws` ones (the AWS keyring origin), so a
    bundle can use either keyring origin."""
    pins = _pins()
    optional = _project()["optional-dependencies"]["aws"]
    for spec in [*_project()["dependencies"], *optional]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {LOCK_FILE}: run `make lock`"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])


def test_no_test_only_package_is_locked() -> None:
    test_only = {
        canonicalize_name(Requirement(spec).name)
        for spec in _project()["optional-dependencies"]["test"]
    }
    runtime = {canonicalize_name(Requirement(s).name) for s in _project()["dependencies"]}
    assert not (test_only - runtime) & set(_pins())


def test_the_test_environment_runs_the_locked_versions() -> None:
    assert {name: version(name) for name in _pins()} == _pins()

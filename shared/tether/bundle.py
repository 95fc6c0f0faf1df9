"""The deployable source bundle: what ``tether package`` uploads to Cloud Functions.

The Cloud Functions Python runtime builds an instance from a zip holding ``main.py`` and a
``requirements.txt`` at its root; it installs the requirements with pip and imports
``main``. The bundle is therefore:

* ``main.py`` — the project's ``functions/main.py``, unchanged;
* ``requirements.txt`` — every pin of the project's lock file (``requirements.lock``,
  generated from ``pyproject.toml``'s runtime dependencies only, so no test-only package is in
  it), without its comments;
* ``tether/`` — the library's source and data files (the provider catalog), vendored beside
  ``main.py``: the runtime puts the source root on ``sys.path``. The local emulators
  (``tether_emulators``) and the tests are not part of it.

Reproducible: entries are written in sorted order with a fixed timestamp and mode, so the
same sources and lock give the same bytes (and the same hash, which is how Terraform decides
whether a function must be redeployed).

Hand-written over ``shutil.make_archive``, which stamps each entry with the file's mtime.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tether.domain.errors import ConfigurationError

__all__ = [
    "LOCK_FILE",
    "Bundle",
    "build_bundle",
    "bundle_entries",
    "locked_requirements",
]

LOCK_FILE = "requirements.lock"
ENTRY_POINTS = "functions/main.py"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can carry
_FILE_MODE = 0o100644 << 16  # a regular file, rw-r--r--
_PACKAGE_SUFFIXES = (".py", ".yaml", ".typed", ".html", ".js", ".css")
_HEADER = "# Pinned from requirements.lock by `tether package`; do not edit.\n"


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    sha256: str
    files: int


def locked_requirements(lock_text: str) -> list[str]:
    """The ``name==version`` lines of a pip-compile lock file, comments and blanks dropped.
    Anything that is not an exact pin is refused: the bundle must not resolve at deploy."""
    pins = []
    for raw in lock_text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line or line.startswith("-"):
            raise ConfigurationError(f"{LOCK_FILE}: not an exact pin: {line!r}")
        pins.append(line)
    if not pins:
        raise ConfigurationError(f"{LOCK_FILE}: no pinned requirements")
    return pins


def _package_files(package_dir: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        if path.suffix not in _PACKAGE_SUFFIXES:
            continue
        yield f"tether/{path.relative_to(package_dir).as_posix()}", path


def bundle_entries(root: Path, package_dir: Path) -> dict[str, bytes]:
    """Every file of the bundle by its name in the zip, read from the project at ``root``
    and the ``tether`` package at ``package_dir``."""
    main = root / ENTRY_POINTS
    lock = root / LOCK_FILE
    for needed in (main, lock):
        if not needed.is_file():
            raise ConfigurationError(f"cannot package: {needed.name} not found under the root")
    pins = locked_requirements(lock.read_text(encoding="utf-8"))
    entries = {
        "main.py": main.read_bytes(),
        "requirements.txt": (_HEADER + "\n".join(pins) + "\n").encode(),
    }
    for name, path in _package_files(package_dir):
        entries[name] = path.read_bytes()
    return entries


def build_bundle(root: Path, output: Path, *, package_dir: Path | None = None) -> Bundle:
    """Write the bundle zip to ``output`` (replacing it) and return its hash."""
    if package_dir is None:
        import tether

        package_dir = Path(tether.__file__).resolve().parent
    entries = bundle_entries(root, package_dir)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entries[name], compresslevel=9)
    partial.replace(output)
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    return Bundle(path=output, sha256=digest, files=len(entries))

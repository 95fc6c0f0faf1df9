"""Migration in: credentials exported from a system that kept them Fernet-encrypted (one key,
or ``MultiFernet`` with older keys), stored the Tether way.

The export is JSON lines, one credential each::

    {"tenant": "acme", "provider": "stripe", "display_name": "Stripe (live)",
     "token": "<Fernet token of the credential JSON object>",
     "config": {...}, "metadata": {...}}          # config and metadata optional

Three phases, so nothing is half-imported:

1. **Decrypt every token** with the given keys (``cryptography``'s ``MultiFernet``: the first
   key and every older one). One token that no key opens means a missing or wrong key: the
   whole import is refused before anything is written (:class:`ImportRefused`).
2. **Validate every line** against the catalog, exactly as ``POST /connections`` would
   (provider known, config and credentials valid for its schemas). Invalid lines are
   counted and skipped, each reported by line number and error code.
3. **Store each valid one** through :class:`~tether.connections.service.ConnectionService`
   (secret first, then the record; the secret is removed again if the record cannot be
   written), so each credential is either fully imported or not at all. Failures are
   counted, with their error code.

Running the same export again is safe: each imported connection carries
``metadata.tether_import`` (a hash of its token, which reveals nothing of it), and a line
whose hash a connection of its tenant already carries is counted as already imported, not
stored twice. A run cut short is finished by running it again.

Nothing reported carries a credential, a token or a key: line numbers, provider keys and
error codes only. Fernet itself comes from ``cryptography``; nothing here is hand-rolled.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from tether.connections.commands import CreateConnection
from tether.domain.errors import TetherError
from tether.domain.models import Connection, Principal

__all__ = [
    "IMPORT_REF_KEY",
    "IMPORT_USER",
    "ImportRefused",
    "ImportReport",
    "import_fernet_export",
    "import_ref",
]

IMPORT_USER = "tether-import"
"""``created_by`` of imported connections (and the user of their audit entries)."""
IMPORT_REF_KEY = "tether_import"
"""The metadata key that marks an imported connection with :func:`import_ref`."""


def import_ref(token: str) -> str:
    """What marks the connection imported from ``token``: a hash of the ciphertext."""
    return "fernet-sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


class ImportRefused(TetherError):
    code = "IMPORT_REFUSED"
    http_status = 400


@dataclass
class ImportReport:
    imported: int = 0
    already_imported: int = 0
    invalid: int = 0
    failed: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_imported": self.already_imported,
            "invalid": self.invalid,
            "failed": self.failed,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class _Line:
    number: int
    tenant: str
    ref: str
    request: CreateConnection


class _Invalid(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


def _fernet(keys: Sequence[str]) -> Any:
    from cryptography.fernet import Fernet, MultiFernet

    if not keys:
        raise ImportRefused("no Fernet key given")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise ImportRefused("a given Fernet key is malformed") from None


def _parse(number: int, text: str, fernet: Any) -> tuple[dict[str, Any], bytes | None]:
    """The line's fields and its decrypted credentials (``None``: no key opens the token)."""
    from cryptography.fernet import InvalidToken

    try:
        doc = json.loads(text)
    except ValueError:
        raise _Invalid("LINE_NOT_JSON") from None
    if not isinstance(doc, dict):
        raise _Invalid("LINE_NOT_AN_OBJECT")
    token = doc.get("token")
    if not isinstance(token, str) or not token:
        raise _Invalid("TOKEN_MISSING")
    try:
        return doc, fernet.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return doc, None


def _request(doc: dict[str, Any], plaintext: bytes) -> tuple[str, CreateConnection]:
    tenant = doc.get("tenant")
    if not isinstance(tenant, str) or not tenant.strip():
        raise _Invalid("TENANT_MISSING")
    try:
        credentials = json.loads(plaintext)
    except ValueError:
        raise _Invalid("CREDENTIALS_NOT_JSON") from None
    if not isinstance(credentials, dict):
        raise _Invalid("CREDENTIALS_NOT_AN_OBJECT")
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _Invalid("VALIDATION_FAILED")
    try:
        request = CreateConnection(
            provider=doc.get("provider"),
            display_name=doc.get("display_name"),
            credentials=credentials,
            config=doc.get("config") or {},
            metadata={**metadata, IMPORT_REF_KEY: import_ref(doc["token"])},
        )
    except ValidationError:
        raise _Invalid("VALIDATION_FAILED") from None
    return tenant.strip(), request


def import_fernet_export(
    lines: Iterable[str],
    keys: Sequence[str],
    *,
    validate: Callable[[CreateConnection], object],
    imported_refs: Callable[[str], set[str]],
    create: Callable[[Principal, CreateConnection], Connection] | None,
) -> ImportReport:
    """Import the export's ``lines`` (see the module docstring). ``validate`` raises a
    :class:`TetherError` for a request ``POST /connections`` would refuse; ``create`` stores
    one connection (``None``: a dry run, counting what would be imported); ``imported_refs``
    gives the :data:`IMPORT_REF_KEY` values a tenant's connections carry. Raises
    :class:`ImportRefused`, having written nothing, when a token cannot be decrypted with
    ``keys``."""
    fernet = _fernet(keys)
    report = ImportReport()
    parsed: list[tuple[int, dict[str, Any], bytes]] = []
    unopened: list[int] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            doc, plaintext = _parse(number, text, fernet)
        except _Invalid as invalid:
            report.invalid += 1
            report.problems.append({"line": number, "code": invalid.code})
            continue
        if plaintext is None:
            unopened.append(number)
        else:
            parsed.append((number, doc, plaintext))
    if unopened:
        shown = ", ".join(str(n) for n in unopened[:10])
        raise ImportRefused(
            f"{len(unopened)} token(s) cannot be decrypted with the given keys (lines {shown}"
            f"{', …' if len(unopened) > 10 else ''}); nothing was imported"
        )

    valid: list[_Line] = []
    for number, doc, plaintext in parsed:
        try:
            tenant, request = _request(doc, plaintext)
            validate(request)
        except _Invalid as invalid:
            code = invalid.code
        except TetherError as error:
            code = error.code
        else:
            valid.append(_Line(number, tenant, request.metadata[IMPORT_REF_KEY], request))
            continue
        report.invalid += 1
        report.problems.append({"line": number, "code": code})

    done: dict[str, set[str]] = {}
    for line in valid:
        if line.tenant not in done:
            done[line.tenant] = imported_refs(line.tenant)
        if line.ref in done[line.tenant]:
            report.already_imported += 1
            continue
        done[line.tenant].add(line.ref)  # the same token twice in one export: stored once
        if create is None:
            report.imported += 1
            continue
        principal = Principal(tenant_id=line.tenant, user_id=IMPORT_USER)
        try:
            create(principal, line.request)
        except TetherError as error:
            report.failed += 1
            report.problems.append({"line": line.number, "code": error.code})
        else:
            report.imported += 1
    report.problems.sort(key=lambda p: int(p["line"]))
    return report

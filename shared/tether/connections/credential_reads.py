"""Reading a connection's credential payload when its record may be changing underneath.

A record copy names one credential version; a concurrent change may write a new version and
retire that one before the copy is used. :func:`payload_of` then reads the record again,
follows it to its current version, and hands back both. Every value read is taught to the
log redactor, so it is masked wherever it might surface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tether.domain.errors import NotFound
from tether.domain.models import Connection
from tether.logs import register_secret

if TYPE_CHECKING:
    from tether.ports import ConnectionRepository, SecretStore

__all__ = ["GRANT_FIELDS", "REFRESH_TOKEN_FIELD", "payload_of", "remember_secrets", "tenant_fields"]

# Where an OAuth grant lives in a credential payload: beside the tenant's own fields (a client
# secret, say), written by the OAuth flow and refreshes, never by a tenant's PATCH.
REFRESH_TOKEN_FIELD = "refresh_token"  # noqa: S105 - a field name, not a secret
GRANT_FIELDS = frozenset({REFRESH_TOKEN_FIELD})


def tenant_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` without the grant's fields: what the catalog's credentials schema checks."""
    return {name: value for name, value in payload.items() if name not in GRANT_FIELDS}


def remember_secrets(payload: Mapping[str, Any]) -> None:
    """Teach the log redactor the exact values, so they are masked wherever they surface."""
    for value in payload.values():
        if isinstance(value, str):
            register_secret(value)


def payload_of(
    secrets: SecretStore, store: ConnectionRepository, connection: Connection
) -> tuple[dict[str, Any], Connection]:
    """The credential payload of ``connection`` and the record naming it: ``connection``
    itself, or its re-read when a concurrent change retired the version it names. ``{}`` for
    a record without credentials; :class:`NotFound` when the version is gone for good."""
    if connection.credential_ref is None:
        return {}, connection
    try:
        payload = secrets.get(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            ref=connection.credential_ref,
        )
    except NotFound:
        fresh = store.get_connection(connection.tenant_id, connection.id)
        if fresh is None or fresh.credential_ref in (None, connection.credential_ref):
            raise
        return payload_of(secrets, store, fresh)
    remember_secrets(payload)
    return payload, connection

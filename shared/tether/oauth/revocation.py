"""Revoking a connection's OAuth tokens at the provider (RFC 7009) when it is deleted, or when
an update moves its destination and drops the grant (revoked at the old destination: the
record given is the one before the move, so its config, client and tokens are the old ones).

Best effort: the refresh token and the still unexpired access token are each sent to the
provider's revocation endpoint, when the catalog names one. The outcome is audited
(``token.revoked`` with the tokens revoked, or ``token.revocation_failed`` with a reason code)
and never raised: a provider that is down must not keep a tenant from deleting or moving a
connection. Tokens never appear in logs or audit entries. A connection whose token was
issued from its credentials (client credentials, JWT bearer) has no refresh token: its access
token alone is revoked, where the entry names a revocation endpoint; a ``two_step`` session
is ended by the entry's sign-out call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.connections.credential_reads import REFRESH_TOKEN_FIELD, payload_of
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.errors import TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, Connection, Principal
from tether.oauth.model import SYSTEM_ACTOR, OAuthClient, TokenEndpointError, reason_code
from tether.oauth.token_storage import TokenStorage
from tether.ports import AuditLog, ConnectionRepository, SecretStore

__all__ = ["RevocationEndpoint", "RevocationRecords", "TokenRevocation"]

log = logging.getLogger("tether.tokens")

# An authorization-code grant, and the modes whose tokens are issued from credentials.
_REVOCABLE = frozenset({"oauth2", *ISSUED_TOKEN_MODES})
_TWO_STEP = "two_step"


class RevocationRecords(ConnectionRepository, AuditLog, Protocol):
    """The record ports revocation uses: the connection (to read its credentials) and the
    audit trail its outcome goes to."""


class RevocationEndpoint(Protocol):
    """What revocation needs of :class:`tether.oauth.token_endpoint.TokenEndpoint`."""

    def revoke(
        self, client: OAuthClient, *, token: str, token_type_hint: str | None = None
    ) -> None: ...


class TokenRevocation:
    """``endpoint`` is a zero-argument factory of the token endpoint (built when a token is
    revoked); ``client_for`` resolves the provider client of a connection; ``sign_out`` the
    call that ends a ``two_step`` connection's session (``None``: its entry has none)."""

    def __init__(
        self,
        *,
        store: RevocationRecords,
        secrets: SecretStore,
        token_storage: TokenStorage,
        endpoint: Callable[[], RevocationEndpoint],
        client_for: Callable[[Connection], OAuthClient],
        clock: Clock,
        ids: IdGenerator,
        sign_out: Callable[[Connection], Callable[[str], None] | None] | None = None,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._tokens = token_storage
        self._endpoint = endpoint
        self._client_for = client_for
        self._sign_out = sign_out
        self._clock = clock
        self._ids = ids

    def revoke(self, connection: Connection, *, actor: str | None = None) -> None:
        """Revoke the refresh token and the access token at the provider (RFC 7009), when
        it has a revocation endpoint. Best effort for connection delete and move: a failure
        is audited (``token.revocation_failed`` with a reason code) and never raised."""
        if connection.auth_mode not in _REVOCABLE:
            return
        revoked: list[str] = []
        failed: list[str] = []
        reason: str | None = None
        try:
            revoke_one = self._revoker(connection)
            if revoke_one is None:
                return
            payload, connection = payload_of(self._secrets, self._store, connection)
            tokens: list[tuple[str, Callable[[], object]]] = [
                ("refresh_token", lambda: payload.get(REFRESH_TOKEN_FIELD)),
                ("access_token", lambda: self._tokens.unexpired_access_token(connection)),
            ]
            for hint, read in tokens:
                try:
                    token = read()
                    if not isinstance(token, str) or not token:
                        continue
                    revoke_one(token, hint)
                except TokenEndpointError as exc:
                    failed.append(hint)
                    reason = reason or reason_code(exc.error)
                except TetherError as exc:
                    failed.append(hint)
                    reason = reason or reason_code(exc.code.lower())
                else:
                    revoked.append(hint)
        except TetherError as exc:
            reason = reason_code(exc.code.lower())
        except Exception:
            log.exception("revoking the tokens of %s failed unexpectedly", connection.id)
            reason = "unexpected_error"
        if reason is None and not revoked:
            return
        if reason is None:
            self._audit_quietly(connection, AuditAction.TOKEN_REVOKED, actor, tokens=revoked)
        else:
            log.warning("token revocation for %s failed (%s)", connection.id, reason)
            self._audit_quietly(
                connection,
                AuditAction.TOKEN_REVOCATION_FAILED,
                actor,
                reason=reason,
                revoked=revoked,
                failed=failed,
            )

    def _revoker(self, connection: Connection) -> Callable[[str, str], None] | None:
        """How this connection's tokens are revoked: RFC 7009 at the client's revocation
        endpoint, or a ``two_step`` entry's sign-out call; ``None`` when it has neither."""
        if connection.auth_mode == _TWO_STEP:
            send = self._sign_out(connection) if self._sign_out is not None else None
            if send is None:
                return None
            return lambda token, _hint: send(token)
        client = self._client_for(connection)
        if not client.revocation_url:
            return None
        return lambda token, hint: self._endpoint().revoke(
            client, token=token, token_type_hint=hint
        )

    def _audit_quietly(
        self, connection: Connection, action: AuditAction, actor: str | None, **detail: Any
    ) -> None:
        """An entry alone: a revocation at the provider changes no record."""
        acting = Principal(tenant_id=connection.tenant_id, user_id=actor or SYSTEM_ACTOR)
        entry = audit_entry(self._ids, self._clock, acting, connection.id, action.value, **detail)
        try:
            self._store.append_audit(entry)
        except TetherError as exc:
            log.warning("could not audit %s of %s (%s)", action.value, connection.id, exc.code)

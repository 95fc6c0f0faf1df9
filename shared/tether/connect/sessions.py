"""Connect sessions: a tenant's backend hands one of its end users a short-lived token for
the browser, which reaches that end user's connections and the catalog, and nothing else.

:meth:`ConnectSessions.create` (the tenant) stores the session (the hash of the token's
secret, never the token) and answers the token and the hosted page's URL, which carries the
token in its fragment: a fragment never reaches a server or a ``Referer``, and the page
removes it from the address bar as it loads.

:meth:`ConnectSessions.verify` is the one check of a session token, for every function that
accepts one (the frame's verifier sends ``csess_…`` tokens here): known, secret matching in
constant time, not revoked, not expired. What the bearer may then reach is the
:class:`~tether.domain.connect_scope.ConnectScope` on the principal it returns. A refused
token is a 401 whose code says why (``SESSION_EXPIRED``, ``SESSION_REVOKED``,
``INVALID_SESSION``), for the page to say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from tether.connect.commands import DEFAULT_TTL_SECONDS, CreateConnectSession
from tether.connect.tokens import secret_hash, secret_matches, split_token, token_of
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.connect_scope import ConnectScope
from tether.domain.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from tether.domain.ids import IdGenerator
from tether.domain.models import ConnectSession, Principal
from tether.ports import AuditLog, ConnectSessionRepository

if TYPE_CHECKING:
    from tether.catalog import Catalog

__all__ = ["ConnectSessions", "IssuedSession", "principal_of"]

SESSION_CREATED = "connect_session.created"
SESSION_REVOKED = "connect_session.revoked"


class SessionRecords(ConnectSessionRepository, AuditLog, Protocol):
    """The record ports the sessions use: the sessions and the tenant's audit trail."""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session: ``token`` is shown this once; ``url`` is the hosted page with it."""

    session: ConnectSession
    token: str
    url: str


class ConnectSessions:
    def __init__(
        self,
        *,
        store: SessionRecords,
        catalog: Callable[[], Catalog],
        clock: Clock,
        ids: IdGenerator,
        page_url: str,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._ids = ids
        self._page_url = page_url

    def create(self, principal: Principal, request: CreateConnectSession) -> IssuedSession:
        if principal.session is not None:
            raise Forbidden("a connect session cannot open another", code="SESSION_NOT_ALLOWED")
        if request.allowed_providers is not None:
            known = set(self._catalog().keys())
            unknown = [key for key in request.allowed_providers if key not in known]
            if unknown:
                raise InvalidRequest(
                    f"unknown providers: {', '.join(unknown)}", code="UNKNOWN_PROVIDER"
                )
        now = self._clock.now()
        session_id = self._ids.new("csess")
        secret = self._ids.token(32)
        session = ConnectSession(
            id=session_id,
            tenant_id=principal.tenant_id,
            secret_hash=secret_hash(secret),
            end_user_id=request.end_user.id,
            end_user_display_name=request.end_user.display_name,
            allowed_providers=request.allowed_providers,
            allowed_origins=list(request.allowed_origins),
            created_by=principal.user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=request.ttl_seconds or DEFAULT_TTL_SECONDS),
        )
        self._store.create_connect_session(session)
        self._store.append_audit(
            audit_entry(
                self._ids,
                self._clock,
                principal,
                None,
                SESSION_CREATED,
                session_id=session_id,
                end_user_id=session.end_user_id,
            )
        )
        token = token_of(session_id, secret)
        return IssuedSession(session=session, token=token, url=self.page_url(session, token))

    def page_url(self, session: ConnectSession, token: str) -> str:
        """The hosted page for ``session``: its id in the query (not a secret: the page's
        frame ancestors come from it), the token in the fragment."""
        return f"{self._page_url}?session={session.id}#token={token}"

    def verify(self, token: str) -> Principal:
        parts = split_token(token)
        if parts is None:
            raise Unauthenticated("the connect session token is not valid", code="INVALID_SESSION")
        session = self._store.get_connect_session(parts[0])
        if session is None or not secret_matches(session.secret_hash, parts[1]):
            raise Unauthenticated("the connect session token is not valid", code="INVALID_SESSION")
        if session.revoked_at is not None:
            raise Unauthenticated("this connect session was ended", code="SESSION_REVOKED")
        if session.expires_at <= self._clock.now():
            raise Unauthenticated("this connect session has expired", code="SESSION_EXPIRED")
        return principal_of(session)

    def current(self, principal: Principal) -> ConnectSession:
        """The session a session's bearer holds."""
        scope = principal.session
        if scope is None:
            raise Forbidden("only a connect session has a current session", code="NOT_A_SESSION")
        session = self._store.get_connect_session(scope.session_id)
        if session is None:
            raise Unauthenticated("this connect session has expired", code="SESSION_EXPIRED")
        return session

    def origins(self, session_id: str) -> tuple[str, ...]:
        """The origins that may frame a live session's page; none for an unknown, ended or
        expired one. Not a secret: the page's ``frame-ancestors``."""
        session = self._store.get_connect_session(session_id)
        if session is None or session.revoked_at is not None:
            return ()
        if session.expires_at <= self._clock.now():
            return ()
        return tuple(session.allowed_origins)

    def revoke(self, principal: Principal, session_id: str) -> None:
        """The tenant ends any of its sessions; a session's bearer only its own."""
        scope = principal.session
        if scope is not None and scope.session_id != session_id:
            raise NotFound("no such connect session", code="SESSION_NOT_FOUND")
        if not self._store.revoke_connect_session(
            principal.tenant_id, session_id, at=self._clock.now()
        ):
            raise NotFound("no such connect session", code="SESSION_NOT_FOUND")
        self._store.append_audit(
            audit_entry(
                self._ids, self._clock, principal, None, SESSION_REVOKED, session_id=session_id
            )
        )


def principal_of(session: ConnectSession) -> Principal:
    """Who a session's bearer is: the tenant, acting for one end user within the scope."""
    return Principal(
        tenant_id=session.tenant_id,
        user_id=f"end_user:{session.end_user_id}",
        session=ConnectScope(
            session_id=session.id,
            end_user_id=session.end_user_id,
            allowed_providers=None
            if session.allowed_providers is None
            else tuple(session.allowed_providers),
            allowed_origins=tuple(session.allowed_origins),
        ),
    )

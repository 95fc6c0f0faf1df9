"""Connection tests: does this connection work, and if not, why?

:meth:`ConnectionProber.test_unsaved` checks what a user is about to save (provider, config,
credentials); :meth:`ConnectionProber.test_stored` checks a saved connection and records the
result on it. Both answer a :class:`~tether.fetch.outcomes.ProbeOutcome` for every
verdict on the connection (bad credentials, unreachable host, invalid settings…); exceptions
are left for what is not a verdict (unknown provider or connection, a failing store).

The test request
    The catalog entry's ``test``: its method and body, the URL from
    :meth:`Provider.render_test_url`, the entry's static ``headers``, with the connection's auth
    (:func:`tether.fetch.request_auth.auth_for`). Entries whose config declares them bring
    their own parts: ``headers`` (extra static headers), ``records_path`` and, for GraphQL,
    ``test_query``: the generic ``rest_api`` calls ``base_url`` + ``test_path`` and
    ``graphql_api`` POSTs ``{"query": test_query}`` (default ``query { __typename }``) to
    ``endpoint``. A custom query is judged by a non-empty ``data`` instead of the entry's
    ``ok_path``. The timeout is at most 30 s.

Success
    The status is in ``expect_status``; for a GraphQL request (a body with a ``query``) the
    answer is a JSON object without ``errors``; and ``ok_path``, when given, is truthy. A
    GraphQL ``errors`` array or a false ``ok_path`` is classified by the provider's error text
    (``unauthorized``… → ``INVALID_CREDENTIALS``, ``forbidden``/``missing_scope`` →
    ``PERMISSION_DENIED``, else ``PROVIDER_ERROR``). An unexpected 400/422 is classified the same
    way, since some providers answer a bad key with 400.

The sample
    Up to three records of the answer: at ``records_path``, else the body when it is a list,
    else the body as one record; on failure, the error document (GraphQL ``errors``, or the
    JSON body). Every key named like a secret (token, secret, password, key, authorization,
    cookie, session, credential) is ``"[redacted]"`` at any depth, every credential value (as
    written or URL-encoded) is cut out of every string, and strings are cut to 200 characters.
    Messages name the host at most: never a credential, a full URL or any of the body.

Not testable
    An entry without a test request (incoming webhooks), an OAuth connection that is not
    authorized yet, and a tester without a token source for the entry's mode answer
    ``NOT_TESTABLE`` (``ok: false``; see :mod:`tether.fetch.outcomes`). A stored
    connection's ``last_test`` and status are left alone and no audit entry is written: nothing
    was tested.

Stored connections
    Credentials are read with :meth:`ConnectionService.read_credentials` (``purpose="test"``,
    audited there); OAuth2 connections get their access token from the ``oauth_token``
    callable instead (and ``oauth_refresh`` after a 401). The result lands in one
    compare-and-set write with retries: ``last_test`` always; ``INVALID_CREDENTIALS`` moves an
    ``active`` connection to ``error`` with a ``TEST_INVALID_CREDENTIALS`` status detail; any
    passing test moves ``error`` back to ``active``. Other statuses are left to the flows that
    own them. An audit entry ``connection.tested`` records ``ok`` and ``code`` only.

PostgreSQL
    The ``postgresql`` entry is tested by connecting (TLS per ``sslmode``) and running
    ``SELECT 1`` within the timeout, through an injectable ``pg_connect``. The host goes
    through the same SSRF guard as HTTP and the driver connects to the checked address. With
    no ``pg_connect`` given, ``pg8000`` is used when it is installed; otherwise the outcome is
    ``INVALID_CONFIG`` "PostgreSQL support is not installed".

Size: the tester service and, above it, the rules it follows; the HTTP and PostgreSQL halves
live in http_probe and postgres_probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tether.catalog.destination import destination_of
from tether.catalog.issued_modes import ISSUED_TOKEN_MODES
from tether.domain.audit import audit_entry
from tether.domain.clock import Clock
from tether.domain.compare_and_set import Contended, compare_and_set
from tether.domain.connect_scope import check_provider
from tether.domain.errors import InvalidRequest, TetherError
from tether.domain.ids import IdGenerator
from tether.domain.models import AuditAction, Connection, LastTest, Principal, StatusDetail
from tether.domain.status import ConnectionStatus, check_transition
from tether.fetch.http_probe import HttpProbe, evaluate_response, http_probe_for
from tether.fetch.outcomes import (
    OutcomeCode,
    ProbeOutcome,
    SampleRedactor,
    describe_failure,
    suggestion_for,
)
from tether.fetch.postgres_probe import (
    PgConnect,
    PgConnection,
    close_quietly,
    describe_pg_error,
    pg8000_connect,
    ssl_context_for,
)
from tether.fetch.request_auth import AuthUnavailable, auth_for, generic_auth_method
from tether.http.guard import EgressGuard
from tether.http.model import OutboundError, OutboundResponse, RequestAuth
from tether.logs import register_secret
from tether.oauth.model import TokenEndpointError
from tether.oauth.refresh_failures import (
    NO_REFRESH_TOKEN_CODE,
    REFRESH_FAILED_CODE,
    ReauthRequired,
)
from tether.ports import AuditLog, ConnectionRepository

if TYPE_CHECKING:
    from tether.catalog import Catalog, Provider
    from tether.connections.service import ConnectionService
    from tether.http.client import OutboundClient

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "TESTED_ACTION",
    "ClientCredentialsToken",
    "ConnectionProber",
    "HttpProbe",
    "OutboundSender",
    "PgConnect",
    "PgConnection",
    "describe_pg_error",
    "evaluate_response",
    "http_probe_for",
    "pg8000_connect",
]


class ProbeRecords(ConnectionRepository, AuditLog, Protocol):
    """The record ports a test uses: the connection (its last test) and the audit trail."""


log = logging.getLogger("tether.connection_testing")

TESTED_ACTION = AuditAction.TESTED.value
DEFAULT_TIMEOUT_SECONDS = 15.0
MAX_TIMEOUT_SECONDS = 30.0
STATUS_DETAIL_CODE = "TEST_INVALID_CREDENTIALS"

_POSTGRESQL = "postgresql"


# -- ports -----------------------------------------------------------------------------------
class OutboundSender(Protocol):
    """What the tester needs of :class:`tether.http.client.OutboundClient`: one request,
    4xx/5xx as answers, :class:`OutboundError` when there is no usable answer."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        auth: RequestAuth | None = None,
        auth_origins: Collection[str] | None = None,
        timeout: float | None = None,
    ) -> OutboundResponse: ...


ClientCredentialsToken = Callable[["Provider", Mapping[str, Any], Mapping[str, Any]], str]
"""An access token for an entry of an issued-token mode (client credentials, JWT bearer,
``two_step``) from (provider, config, credentials): what a test of unsaved credentials uses."""


# -- the service -----------------------------------------------------------------------------
class _Refused(Exception):
    """A verdict reached before any request: carries the outcome out of nested helpers."""

    def __init__(self, outcome: ProbeOutcome) -> None:
        super().__init__(outcome.code.value)
        self.outcome = outcome


def _verdict(
    code: OutcomeCode,
    message: str,
    *,
    auth_kind: str | None = None,
    latency_ms: int | None = None,
    suggestion: str | None = None,
) -> ProbeOutcome:
    return ProbeOutcome(
        ok=code == OutcomeCode.OK,
        code=code,
        message=message,
        suggestion=suggestion or suggestion_for(code, auth_kind=auth_kind),
        latency_ms=latency_ms,
    )


def _string_values(payload: Mapping[str, Any]) -> list[str]:
    return [v for v in payload.values() if isinstance(v, str)]


class ConnectionProber:
    """Tests connections; see the module documentation.

    ``oauth_token(connection)`` returns a stored OAuth2 connection's valid access token and
    ``oauth_refresh(connection)`` a new one after a 401 (``None`` if there is none), e.g.
    ``tokens.access_token`` and ``lambda c: tokens.access_token(tokens.force_refresh(c))``.
    ``client_credentials`` obtains the token of unsaved credentials of an issued-token mode
    (client credentials, JWT bearer, ``two_step``); a stored one's comes from ``oauth_token``.
    ``guard`` checks PostgreSQL hosts (the HTTP client has its own).
    """

    def __init__(
        self,
        *,
        connections: ConnectionService,
        store: ProbeRecords,
        catalog: Callable[[], Catalog],
        client: OutboundSender,
        clock: Clock,
        ids: IdGenerator,
        oauth_token: Callable[[Connection], str] | None = None,
        oauth_refresh: Callable[[Connection], str | None] | None = None,
        client_credentials: ClientCredentialsToken | None = None,
        pg_connect: PgConnect | None = None,
        guard: EgressGuard | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError(f"timeout must be in (0, {MAX_TIMEOUT_SECONDS}] seconds")
        self._connections = connections
        self._store = store
        self._catalog = catalog
        self._client = client
        self._clock = clock
        self._ids = ids
        self._oauth_token = oauth_token
        self._oauth_refresh = oauth_refresh
        self._client_credentials = client_credentials
        self._pg_connect = pg_connect
        self._guard = guard or EgressGuard()
        self._timeout = timeout
        self._monotonic = monotonic

    # -- public ------------------------------------------------------------------------------
    def test_unsaved(
        self,
        principal: Principal,
        provider_key: str,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any],
    ) -> ProbeOutcome:
        """Test a connection before it is saved. Unknown provider: ``NotFound``; invalid
        config or credentials: an ``INVALID_CONFIG`` outcome; a provider a connect session
        does not offer: ``Forbidden``."""
        check_provider(principal, provider_key)
        provider = self._catalog().get(provider_key)
        for value in _string_values(credentials):
            register_secret(value)
        from tether.connections.schema_validation import validate_against_schema

        try:
            validate_against_schema(config, provider.config_schema, section="config")
            validate_against_schema(credentials, provider.credentials_schema, section="credentials")
        except InvalidRequest as exc:
            return _verdict(OutcomeCode.INVALID_CONFIG, exc.message)
        log.debug("testing an unsaved %s connection of %s", provider.key, principal.tenant_id)
        return self._run(provider, provider.config_with_defaults(config), credentials)

    def test_stored(self, principal: Principal, connection_id: str) -> ProbeOutcome:
        """Test a saved connection and record the result (``last_test``, status, audit)."""
        connection = self._connections.get(principal, connection_id)
        provider = self._catalog().get(connection.provider)
        config = provider.config_with_defaults(connection.config)
        if provider.auth_mode == "oauth2" and connection.status == ConnectionStatus.PENDING:
            return _verdict(
                OutcomeCode.NOT_TESTABLE,
                "This connection is waiting for its OAuth authorization; test it once the "
                "account is connected.",
                suggestion="Finish connecting the account, then test again.",
            )
        if not self._testable(provider):
            return self._not_testable(provider)
        credentials: Mapping[str, Any] = {}
        if provider.auth_mode not in _TOKEN_MODES:  # those tokens come from the token source
            credentials = self._connections.credentials_of(principal, connection, purpose="test")
        outcome = self._run(provider, config, credentials, connection=connection)
        if outcome.code == OutcomeCode.NOT_TESTABLE:
            return outcome
        self._record(principal, connection_id, outcome)
        return outcome

    # -- running a test ----------------------------------------------------------------------
    def _testable(self, provider: Provider) -> bool:
        return provider.key == _POSTGRESQL or provider.test is not None

    @staticmethod
    def _not_testable(provider: Provider) -> ProbeOutcome:
        return _verdict(
            OutcomeCode.NOT_TESTABLE,
            f"{provider.display_name} has no test request: the connection is checked when it "
            "is first used.",
        )

    def _run(
        self,
        provider: Provider,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        *,
        connection: Connection | None = None,
    ) -> ProbeOutcome:
        if provider.key == _POSTGRESQL:
            return self._test_postgres(provider, config, credentials)
        try:
            test = http_probe_for(provider, config)
            if test is None:
                return self._not_testable(provider)
            auth = self._auth(provider, config, credentials, connection)
        except _Refused as refused:
            return refused.outcome
        except InvalidRequest as exc:
            return _verdict(OutcomeCode.INVALID_CONFIG, exc.message)
        return self._send(
            test,
            auth,
            credentials,
            auth_kind=_auth_kind(provider, config),
            origins=destination_of(provider, config).origins,
        )

    def _auth(
        self,
        provider: Provider,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        connection: Connection | None,
    ) -> RequestAuth | None:
        get_token: Callable[[], str] | None = None
        refresh: Callable[[], str | None] | None = None
        if provider.auth_mode == "oauth2":
            if connection is None:
                raise _Refused(
                    _verdict(
                        OutcomeCode.NOT_TESTABLE,
                        "OAuth connections are tested once the account is connected.",
                        suggestion="Connect the account, then test the saved connection.",
                    )
                )
            get_token, refresh = self._stored_oauth(connection)
        elif provider.auth_mode in ISSUED_TOKEN_MODES and connection is not None:
            # The stored token (issued again when due, and once after a 401).
            get_token, refresh = self._stored_oauth(connection, auth_kind=provider.auth_mode)
        elif provider.auth_mode in ISSUED_TOKEN_MODES and self._client_credentials:
            issue = self._client_credentials
            token = self._fetch_token(
                lambda: issue(provider, config, credentials), auth_kind=provider.auth_mode
            )

            def get_token() -> str:
                return token

        try:
            return auth_for(
                provider, config, credentials, oauth_token=get_token, oauth_refresh=refresh
            )
        except AuthUnavailable:
            raise _Refused(
                _verdict(
                    OutcomeCode.NOT_TESTABLE,
                    "Tether cannot obtain an access token for this connection here.",
                )
            ) from None
        except InvalidRequest as exc:
            raise _Refused(_verdict(OutcomeCode.INVALID_CONFIG, exc.message)) from None

    def _stored_oauth(
        self, connection: Connection, *, auth_kind: str = "oauth2"
    ) -> tuple[Callable[[], str] | None, Callable[[], str | None] | None]:
        source, renew = self._oauth_token, self._oauth_refresh
        if source is None:
            return None, None
        current = [self._fetch_token(lambda: source(connection), auth_kind=auth_kind)]

        def get_token() -> str:
            return current[0]

        def refresh() -> str | None:
            if renew is None:
                return None
            try:
                fresh = renew(connection)
            except TetherError as exc:
                log.info("no fresh token for the test of %s (%s)", connection.id, exc.code)
                return None
            if fresh:
                current[0] = fresh
            return fresh

        return get_token, refresh

    def _fetch_token(self, fetch: Callable[[], str], *, auth_kind: str) -> str:
        """Get an access token now, so that a failure is an outcome of its own."""
        try:
            return fetch()
        except TetherError as exc:
            outcome = _token_failure(exc, auth_kind)
            if outcome is None:
                raise
            raise _Refused(outcome) from None

    def _send(
        self,
        test: HttpProbe,
        auth: RequestAuth | None,
        credentials: Mapping[str, Any],
        *,
        auth_kind: str | None,
        origins: frozenset[str],
    ) -> ProbeOutcome:
        redactor = SampleRedactor(_string_values(credentials))
        started = self._monotonic()
        try:
            response = self._client.request(
                test.method,
                test.url,
                headers=dict(test.headers),
                json=test.body,
                auth=auth,
                auth_origins=origins,
                timeout=self._timeout,
            )
        except OutboundError as exc:
            code, message = describe_failure(exc.failure, test.host)
            return _verdict(
                code,
                redactor.text(message, limit=None),
                auth_kind=auth_kind,
                latency_ms=self._elapsed_ms(started),
            )
        except TetherError as exc:
            outcome = _token_failure(exc, auth_kind or "oauth2")
            if outcome is None:
                raise
            return outcome
        if auth is not None:
            redactor.add(auth.secrets())
        return evaluate_response(test, response, redactor, auth_kind=auth_kind)

    def _elapsed_ms(self, started: float) -> int:
        return max(0, round((self._monotonic() - started) * 1000))

    # -- PostgreSQL --------------------------------------------------------------------------
    def _test_postgres(
        self, provider: Provider, config: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> ProbeOutcome:
        connect = self._pg_connect or pg8000_connect()
        if connect is None:
            return _verdict(
                OutcomeCode.INVALID_CONFIG,
                "PostgreSQL support is not installed",
                suggestion="Ask the operator of this Tether installation to install the "
                "PostgreSQL driver (pg8000).",
            )
        host, port = config.get("host"), config.get("port", 5432)
        database, sslmode = config.get("database"), config.get("sslmode", "verify-full")
        user, password = credentials.get("username"), credentials.get("password")
        for name, value in (("config.host", host), ("config.database", database)):
            if not isinstance(value, str) or not value:
                return _verdict(OutcomeCode.INVALID_CONFIG, f"{name} is required")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            return _verdict(OutcomeCode.INVALID_CONFIG, "config.port is not a valid port")
        if sslmode not in ("require", "verify-ca", "verify-full"):
            return _verdict(OutcomeCode.INVALID_CONFIG, "config.sslmode is not supported")
        if not isinstance(user, str) or not user or not isinstance(password, str):
            return _verdict(
                OutcomeCode.INVALID_CONFIG, "credentials.username and password are required"
            )
        assert isinstance(host, str)  # for mypy: checked above
        assert isinstance(database, str)
        redactor = SampleRedactor(_string_values(credentials))
        url_host = f"[{host}]" if ":" in host else host
        try:
            target = self._guard.check(f"https://{url_host}:{port}/")
        except OutboundError as exc:
            code, message = describe_failure(exc.failure, host)
            return _verdict(code, redactor.text(message, limit=None), auth_kind="database")
        started = self._monotonic()
        try:
            connection = connect(
                host=host,
                address=target.ip,
                port=port,
                database=database,
                user=user,
                password=password,
                ssl_context=ssl_context_for(str(sslmode)),
                timeout=self._timeout,
            )
            try:
                cursor = connection.cursor()
                cursor.execute("SELECT 1")
                row = cursor.fetchone()
            finally:
                close_quietly(connection)
        except Exception as exc:  # noqa: BLE001 - every driver failure is a verdict
            code, message = describe_pg_error(exc, host)
            return _verdict(
                code,
                redactor.text(message, limit=None),
                auth_kind="database",
                latency_ms=self._elapsed_ms(started),
            )
        latency = self._elapsed_ms(started)
        first = row[0] if isinstance(row, list | tuple) and row else row
        if first != 1:
            return _verdict(
                OutcomeCode.PROVIDER_ERROR,
                f"{host} answered SELECT 1 with something other than 1.",
                latency_ms=latency,
            )
        return ProbeOutcome(
            ok=True,
            code=OutcomeCode.OK,
            message=f"Connected to {database} on {host} and ran SELECT 1.",
            suggestion=None,
            latency_ms=latency,
            sample=None,
        )

    # -- recording ---------------------------------------------------------------------------
    def _record(self, principal: Principal, connection_id: str, outcome: ProbeOutcome) -> None:
        """``last_test``, the status change and the audit entry in one compare-and-set,
        retried on a re-read. A record that stays contended (or was deleted meanwhile) keeps
        its old ``last_test``: the test is still audited, on its own, and the caller still
        gets the outcome."""
        now = self._clock.now()
        tested = audit_entry(
            self._ids,
            self._clock,
            principal,
            connection_id,
            TESTED_ACTION,
            ok=outcome.ok,
            code=outcome.code.value,
        )

        def attempt(_again: bool) -> bool:
            current = self._store.get_connection(principal.tenant_id, connection_id)
            if current is None:
                return False  # deleted while it was tested
            changed = current.model_copy(deep=True)
            changed.last_test = LastTest(
                ok=outcome.ok, code=outcome.code.value, at=now, latency_ms=outcome.latency_ms
            )
            changed.updated_at = now
            new_status = _status_after(current.status, outcome)
            if new_status != current.status:
                check_transition(current.status, new_status)
                changed.status = new_status
                changed.status_detail = (
                    StatusDetail(code=STATUS_DETAIL_CODE, message=outcome.message, at=now)
                    if new_status == ConnectionStatus.ERROR
                    else None
                )
            self._store.update_connection(changed, expected_version=current.version, audit=[tested])
            return True

        try:
            if compare_and_set(attempt, what="the connection"):
                return
        except Contended:
            log.warning(
                "the test result of %s was not recorded: the record is contended", connection_id
            )
        self._store.append_audit(tested)


def _status_after(status: ConnectionStatus, outcome: ProbeOutcome) -> ConnectionStatus:
    if outcome.ok and status == ConnectionStatus.ERROR:
        return ConnectionStatus.ACTIVE
    if outcome.code == OutcomeCode.INVALID_CREDENTIALS and status == ConnectionStatus.ACTIVE:
        return ConnectionStatus.ERROR
    return status


def _auth_kind(provider: Provider, config: Mapping[str, Any]) -> str:
    try:
        method = generic_auth_method(provider, config)
    except InvalidRequest:
        method = None
    return method or provider.auth_mode


_TOKEN_CREDENTIAL_ERRORS = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_key"}
)
_TOKEN_MODES = frozenset({"oauth2", *ISSUED_TOKEN_MODES})


def _token_failure(exc: TetherError, auth_kind: str) -> ProbeOutcome | None:
    """The outcome of failing to get an access token; ``None`` when the failure is not about
    the connection (a store or lease problem), which the caller re-raises."""
    if isinstance(exc, OutboundError):
        code, message = describe_failure(exc.failure, "the token endpoint")
        return _verdict(code, message, auth_kind=auth_kind)
    if isinstance(exc, TokenEndpointError):
        if exc.error in _TOKEN_CREDENTIAL_ERRORS:
            code = OutcomeCode.INVALID_CREDENTIALS
        elif exc.error == "rate_limited":
            code = OutcomeCode.RATE_LIMITED
        elif exc.error == "timeout":
            code = OutcomeCode.TIMEOUT
        elif exc.error == "network":
            code = OutcomeCode.CONNECTION_FAILED
        else:
            code = OutcomeCode.PROVIDER_ERROR
        return _verdict(
            code,
            f"The provider did not issue an access token ({exc.error}).",
            auth_kind=auth_kind,
        )
    if isinstance(exc, ReauthRequired) or exc.code == NO_REFRESH_TOKEN_CODE:
        return _verdict(
            OutcomeCode.INVALID_CREDENTIALS,
            "The provider no longer accepts this connection's authorization.",
            auth_kind="oauth2",
        )
    if exc.code == REFRESH_FAILED_CODE:
        return _verdict(
            OutcomeCode.PROVIDER_ERROR,
            "The provider could not refresh this connection's access token.",
            auth_kind=auth_kind,
        )
    if exc.code == "CONNECTION_NOT_ACTIVE":
        return _verdict(
            OutcomeCode.NOT_TESTABLE,
            "This connection has no access token to test with.",
            suggestion="Reconnect the account, then test again.",
        )
    return None


if TYPE_CHECKING:  # mypy checks that the real client fits the port
    _CLIENT_FITS: type[OutboundSender] = OutboundClient

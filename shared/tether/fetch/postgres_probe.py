"""The PostgreSQL connection test's driver side: the narrow DB-API protocols the tester needs,
``pg8000`` behind them (pure Python; the checked socket is handed in, so the SSRF guard's
address is the one connected to), and the mapping of driver errors to outcome codes."""

from __future__ import annotations

import importlib
import logging
import socket
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tether.fetch.outcomes import (
    OutcomeCode,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "PgConnect",
    "PgConnection",
    "close_quietly",
    "describe_pg_error",
    "pg8000_connect",
    "ssl_context_for",
]

log = logging.getLogger("tether.connection_testing")


class PgCursor(Protocol):
    def execute(self, operation: str) -> Any: ...

    def fetchone(self) -> Any: ...


class PgConnection(Protocol):
    def cursor(self) -> PgCursor: ...

    def close(self) -> None: ...


class PgConnect(Protocol):
    """Open a PostgreSQL connection to ``address`` (checked by the SSRF guard), with ``host``
    as the TLS server name."""

    def __call__(
        self,
        *,
        host: str,
        address: str,
        port: int,
        database: str,
        user: str,
        password: str,
        ssl_context: ssl.SSLContext,
        timeout: float,
    ) -> PgConnection: ...


def pg8000_connect() -> PgConnect | None:
    """A :class:`PgConnect` backed by ``pg8000`` (pure Python), or ``None`` when it is not
    installed. The socket is opened here, to the checked address, and handed to pg8000."""
    try:
        dbapi = importlib.import_module("pg8000.dbapi")
    except ImportError:
        return None

    def connect(
        *,
        host: str,
        address: str,
        port: int,
        database: str,
        user: str,
        password: str,
        ssl_context: ssl.SSLContext,
        timeout: float,
    ) -> PgConnection:
        sock = socket.create_connection((address, port), timeout)
        try:
            connection: PgConnection = dbapi.connect(
                user=user,
                host=host,
                port=port,
                database=database,
                password=password,
                ssl_context=ssl_context,
                timeout=timeout,
                sock=sock,
                application_name="tether",
            )
        except BaseException:
            sock.close()
            raise
        return connection

    return connect


_SQLSTATES: dict[str, tuple[OutcomeCode, str]] = {
    "28P01": (OutcomeCode.INVALID_CREDENTIALS, "The database rejected the password."),
    "28000": (
        OutcomeCode.INVALID_CREDENTIALS,
        "The database did not accept this user (unknown role, or not allowed from Tether's "
        "address).",
    ),
    "3D000": (OutcomeCode.NOT_FOUND, "The database does not exist on the server."),
    "42501": (OutcomeCode.PERMISSION_DENIED, "The user may not connect to this database."),
    "53300": (OutcomeCode.RATE_LIMITED, "The server has too many connections."),
    "57P03": (OutcomeCode.PROVIDER_ERROR, "The server is not accepting connections yet."),
}


def _sqlstate(exc: BaseException) -> str | None:
    for attribute in ("sqlstate", "pgcode"):  # psycopg 3, psycopg2
        value = getattr(exc, attribute, None)
        if isinstance(value, str):
            return value
    if exc.args and isinstance(exc.args[0], Mapping):  # pg8000: the ErrorResponse fields
        code = exc.args[0].get("C")
        if isinstance(code, str):
            return code
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def describe_pg_error(exc: BaseException, host: str) -> tuple[OutcomeCode, str]:
    """Code and message for a failed PostgreSQL connection or ``SELECT 1``. Uses the error's
    type and SQLSTATE only: the server's message text is never shown."""
    for error in _chain(exc):
        if isinstance(error, ssl.SSLError | ssl.CertificateError):
            return OutcomeCode.TLS_ERROR, f"The TLS connection to {host} failed."
        if isinstance(error, TimeoutError):
            return OutcomeCode.TIMEOUT, f"{host} did not answer in time."
        state = _sqlstate(error)
        if state is not None:
            if state in _SQLSTATES:
                code, message = _SQLSTATES[state]
                return code, f"{message} (SQLSTATE {state})"
            if state.startswith("08"):
                return OutcomeCode.CONNECTION_FAILED, f"The connection to {host} failed."
            return OutcomeCode.PROVIDER_ERROR, f"The database answered an error (SQLSTATE {state})."
        if "refuses ssl" in str(error).lower():
            return OutcomeCode.TLS_ERROR, f"{host} does not accept TLS connections."
        if isinstance(error, socket.gaierror):
            return OutcomeCode.CONNECTION_FAILED, f"Could not resolve {host}."
        if isinstance(error, ConnectionRefusedError):
            return OutcomeCode.CONNECTION_FAILED, f"{host} refused the connection."
        if isinstance(error, OSError):
            return OutcomeCode.CONNECTION_FAILED, f"Could not connect to {host}."
    return OutcomeCode.PROVIDER_ERROR, f"The connection to the database on {host} failed."


def ssl_context_for(sslmode: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if sslmode == "verify-full":
        return context
    context.check_hostname = False
    if sslmode == "require":  # encrypted, certificate not checked (libpq's meaning)
        context.verify_mode = ssl.CERT_NONE
    return context


def close_quietly(connection: PgConnection) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - the test is decided; closing is best effort
        log.debug("closing the PostgreSQL test connection failed")

"""The server side of :mod:`tether_emulators.test_api`: a threaded werkzeug server that stops
cleanly (open keep-alive connections included) and can serve HTTPS with a self-signed
certificate. Split out of ``test_api`` only for size."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any
from wsgiref.types import WSGIApplication

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from tether_emulators.cloud_tasks_oidc import connectable_host

__all__ = ["ApiServer", "self_signed_certificate"]

log = logging.getLogger("tether_emulators.test_api")

_HANDSHAKE_TIMEOUT = 10.0


class QuietRequestHandler(WSGIRequestHandler):
    """Logs method, path and status at DEBUG, never the query string (it can hold keys)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path
        log.debug("%s %s %s", getattr(self, "command", "-"), path, code)

    def log_message(self, format: str, *args: Any) -> None:
        """Werkzeug's own access lines would carry the query string: dropped."""

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug("%s", type)


class ApiServer(ThreadedWSGIServer):
    """A threaded WSGI server that records its open connections, so that :meth:`stop` ends
    keep-alive connections too and returns at once. With ``tls`` every connection is wrapped
    in its own handler thread (a client that never finishes its handshake holds up nobody)."""

    def __init__(
        self, host: str, port: int, app: WSGIApplication, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(host, port, app, QuietRequestHandler)
        self._tls = tls
        # What werkzeug reads to answer wsgi.url_scheme "https".
        self.ssl_context = tls
        self._connections_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self._track(connection)
        return connection, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self._tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(_HANDSHAKE_TIMEOUT)
            wrapped = self._tls.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            # The client refused the certificate, or was the stop() wake-up call.
            return
        self._track(wrapped)
        try:
            wrapped.settimeout(None)
            super().finish_request(wrapped, client_address)
        finally:
            self._untrack(wrapped)
            with contextlib.suppress(OSError):
                wrapped.close()

    def shutdown_request(self, request: Any) -> None:
        self._untrack(request)
        super().shutdown_request(request)

    def _track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def _untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection."""
        stopper = threading.Thread(target=self.shutdown, name="test-api-stop", daemon=True)
        stopper.start()
        # serve_forever notices the request between two select() calls: a connection attempt
        # wakes it up instead of waiting for the poll interval to pass.
        host = connectable_host(str(self.server_address[0])).strip("[]")
        while stopper.is_alive():
            with (
                contextlib.suppress(OSError),
                socket.create_connection((host, self.server_port), timeout=0.2),
            ):
                pass
            stopper.join(0.005)
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def self_signed_certificate(
    hostnames: Sequence[str] = ("localhost", "127.0.0.1"), *, expired: bool = False
) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``hostnames`` (DNS names or IP addresses) and its EC
    P-256 key, both PEM. Valid for a day from an hour ago, or (``expired``) until yesterday."""
    if not hostnames:
        raise ValueError("a certificate needs at least one hostname")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    if expired:
        not_before, not_after = now - datetime.timedelta(days=3), now - datetime.timedelta(days=1)
    else:
        not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)
    names: list[x509.GeneralName] = []
    for hostname in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(hostname)))
        except ValueError:
            names.append(x509.DNSName(hostname))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem

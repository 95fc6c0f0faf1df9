"""A self-signed TLS certificate (the sample API's, :mod:`tether_emulators.sample_api_server`)
written to files, for the tests' own TLS servers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tether_emulators.sample_api_server import self_signed_certificate


def certificate_files(
    folder: Path, hostnames: Sequence[str], stem: str
) -> tuple[Path, Path, bytes]:
    """A certificate for ``hostnames`` and its key in ``folder`` (``<stem>.crt``, and
    ``<stem>.key`` readable by its owner only); their paths and the certificate's PEM."""
    cert_pem, key_pem = self_signed_certificate(hostnames)
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    return cert_path, key_path, cert_pem

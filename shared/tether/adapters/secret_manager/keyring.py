"""The keyring in a Secret Manager secret (``TETHER_KEYRING_SECRET``, the default of the
Terraform in ``infra/``): read from a version name (usually ``…/versions/latest``), written as
a new version of the same secret by ``tether keys generate --add`` and ``tether keys retire``.

The payload's CRC32C is sent and checked, as for credentials. Errors name the secret and the
failure, never the payload.
"""

from __future__ import annotations

import re

import google_crc32c
from google.api_core import exceptions as gexc
from google.cloud.secretmanager_v1 import SecretManagerServiceClient

from tether.domain.errors import BackendUnavailable, ConfigurationError

__all__ = ["SecretManagerKeyringOrigin"]

_VERSION = re.compile(r"^(?P<secret>projects/[^/]+/secrets/[^/]+)/versions/(?P<v>latest|\d+)$")


class SecretManagerKeyringOrigin:
    def __init__(
        self, client: SecretManagerServiceClient, version: str, *, timeout: float = 10.0
    ) -> None:
        match = _VERSION.match(version)
        if match is None:
            raise ConfigurationError(
                "TETHER_KEYRING_SECRET must be a secret version name: "
                "projects/<project>/secrets/<secret>/versions/latest"
            )
        self._client = client
        self._version = version
        self._secret = match["secret"]
        self._timeout = timeout

    @property
    def name(self) -> str:
        return self._version

    def read(self) -> str:
        try:
            response = self._client.access_secret_version(name=self._version, timeout=self._timeout)
        except gexc.GoogleAPICallError as exc:
            raise _unavailable(self._version, "reading", exc) from None
        data = bytes(response.payload.data)
        if not response.payload.data_crc32c or (
            int(google_crc32c.value(data)) != response.payload.data_crc32c
        ):
            raise BackendUnavailable(
                f"the keyring in {self._version} failed its integrity check",
                code="SECRET_CHECKSUM_MISMATCH",
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"the keyring in {self._version} is not UTF-8") from None

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            self._client.add_secret_version(
                request={
                    "parent": self._secret,
                    "payload": {"data": data, "data_crc32c": int(google_crc32c.value(data))},
                },
                timeout=self._timeout,
            )
        except gexc.GoogleAPICallError as exc:
            raise _unavailable(self._secret, "writing", exc) from None


def _unavailable(name: str, action: str, exc: gexc.GoogleAPICallError) -> BackendUnavailable:
    return BackendUnavailable(
        f"Secret Manager refused {action} the keyring {name} ({type(exc).__name__})",
        code="KEYRING_UNAVAILABLE",
    )

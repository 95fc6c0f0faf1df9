"""SecretStore on Google Secret Manager: one secret per connection, one version per change.

* The secret is ``tether-<tenant-hash>-<connection-id>`` with labels ``tenant``,
  ``tenant_hash`` and ``provider``; automatic replication, or user-managed replicas in the
  configured locations; an optional CMEK key (``{location}`` in the key name stands for each
  replica's location, since a regional replica needs a key of its own region).
* :meth:`put` adds a version with its CRC32C; :meth:`get` checks the CRC32C of what comes back.
  The record keeps only the version's resource name.
* :meth:`retire` disables a superseded version (unreadable at once) and then destroys it;
  :meth:`delete` deletes the whole secret with every version.
* If the secret had to be created for a first version and adding that version fails, the new
  secret is deleted again: a failure leaves nothing behind. Transient failures (unavailable,
  deadline, quota) are retried briefly by google-api-core's ``Retry``, then surface as a
  retryable :class:`~tether.domain.errors.BackendUnavailable`.
* Decrypted payloads may be cached per instance, keyed by the version's name. Versions are
  immutable and a change always makes a new one, so a change can never be served stale; the
  cache is bounded (LRU), entries expire after a short TTL and are dropped on retire/delete.

Short-lived access tokens never come here (the write quota is about 600 per minute per
project): they are sealed on the connection record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import google_crc32c
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_transient_error

from tether.domain.errors import BackendUnavailable, CryptoError, InvalidRequest, NotFound
from tether.domain.models import CredentialRef
from tether.ttl_cache import TtlCache

if TYPE_CHECKING:
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

__all__ = ["SecretManagerSecretStore", "secret_id_for"]

log = logging.getLogger("tether.secret_manager")

MAX_PAYLOAD_BYTES = 64 * 1024  # Secret Manager's limit per version
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/(?P<secret>[^/]+)/versions/(?P<v>\d+)$")
_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def tenant_hash(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode()).hexdigest()[:20]


def secret_id_for(tenant_id: str, connection_id: str) -> str:
    """``tether-<tenant-hash>-<connection-id>``; an id outside Secret Manager's alphabet is
    hashed too, so the name is always valid and never ambiguous."""
    tail = connection_id if _SAFE_ID.match(connection_id) else "h" + tenant_hash(connection_id)
    return f"tether-{tenant_hash(tenant_id)}-{tail}"


def _label(value: str) -> str:
    """Label values: lowercase letters, digits, ``_`` and ``-``, at most 63 characters."""
    return _LABEL_BAD.sub("_", value.lower())[:63]


def _crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,  # RESOURCE_EXHAUSTED: the write quota
    gexc.Aborted,
    gexc.Unknown,
    gexc.RetryError,
)


@contextmanager
def _backend_errors(action: str) -> Iterator[None]:
    """Google API errors → Tether errors that name the action, never the data."""
    try:
        yield
    except gexc.NotFound:
        raise NotFound("the credentials are no longer available", code="CREDENTIALS_GONE") from None
    except gexc.FailedPrecondition:
        raise NotFound("the credentials are no longer available", code="CREDENTIALS_GONE") from None
    except _TRANSIENT as exc:
        raise BackendUnavailable(
            f"Secret Manager is unavailable ({action}: {type(exc).__name__}); try again",
            code="SECRET_BACKEND_UNAVAILABLE",
        ) from None
    except gexc.GoogleAPICallError as exc:
        # Permission denied, invalid argument: configuration, not worth retrying.
        raise BackendUnavailable(
            f"Secret Manager refused {action} ({type(exc).__name__})",
            code="SECRET_BACKEND_ERROR",
            retryable=False,
        ) from None


class SecretManagerSecretStore:
    backend = "secret_manager"

    def __init__(
        self,
        client: SecretManagerServiceClient,
        *,
        project: str,
        locations: Sequence[str] = (),
        kms_key: str | None = None,
        cache_seconds: float = 30.0,
        cache_size: int = 256,
        timeout_seconds: float = 10.0,
        retry_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._project = project
        self._locations = list(locations)
        self._kms_key = kms_key
        self._timeout = timeout_seconds
        self._retry = Retry(
            predicate=if_transient_error,
            initial=0.1,
            maximum=1.0,
            multiplier=2.0,
            timeout=retry_seconds,
        )
        self._cache: TtlCache[str, bytes] = TtlCache(
            ttl=cache_seconds, size=cache_size, now=monotonic
        )

    # -- names ------------------------------------------------------------------------------
    def secret_name(self, tenant_id: str, connection_id: str) -> str:
        return f"projects/{self._project}/secrets/{secret_id_for(tenant_id, connection_id)}"

    def _check_owner(self, tenant_id: str, connection_id: str, ref: CredentialRef) -> str:
        """The version name, if ``ref`` names a version of this connection's own secret.
        (The project part may be the project number: Secret Manager answers with it.)"""
        match = _VERSION_NAME.match(ref.locator) if ref.backend == "secret_manager" else None
        if match is None or match["secret"] != secret_id_for(tenant_id, connection_id):
            raise CryptoError(
                "this credential reference does not belong to this connection",
                code="CREDENTIAL_REF_MISMATCH",
            )
        return ref.locator

    # -- SecretStore ------------------------------------------------------------------------
    def put(
        self,
        *,
        tenant_id: str,
        connection_id: str,
        provider: str,
        payload: Mapping[str, Any],
    ) -> CredentialRef:
        data = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode()
        if len(data) > MAX_PAYLOAD_BYTES:
            raise InvalidRequest(
                "the credentials are larger than 64 KiB", code="CREDENTIALS_TOO_LARGE"
            )
        secret = self.secret_name(tenant_id, connection_id)
        try:
            version_name = self._add_version(secret, data)
        except NotFound:
            # First credentials of this connection: create the secret, then its version.
            self._create_secret(secret, tenant_id=tenant_id, provider=provider)
            try:
                version_name = self._add_version(secret, data)
            except BaseException:
                self._delete_quietly(secret)
                raise
        self._cache.put(version_name, data)
        return CredentialRef(backend="secret_manager", locator=version_name)

    def get(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> dict[str, Any]:
        name = self._check_owner(tenant_id, connection_id, ref)
        data = self._cache.get(name)
        if data is None:
            with _backend_errors("reading credentials"):
                response = self._client.access_secret_version(
                    name=name, retry=self._retry, timeout=self._timeout
                )
            data = bytes(response.payload.data)
            if not response.payload.data_crc32c or _crc32c(data) != response.payload.data_crc32c:
                raise BackendUnavailable(
                    "the credentials failed their integrity check; try again",
                    code="SECRET_CHECKSUM_MISMATCH",
                )
            self._cache.put(name, data)
        value = json.loads(data)
        if not isinstance(value, dict):
            raise CryptoError("the stored credentials are not an object")
        return value

    def retire(self, *, tenant_id: str, connection_id: str, ref: CredentialRef) -> None:
        name = self._check_owner(tenant_id, connection_id, ref)
        self._cache.drop(lambda cached: cached == name)
        # Disabled first: unreadable at once even if the destroy below fails.
        for call in (self._client.disable_secret_version, self._client.destroy_secret_version):
            try:
                with _backend_errors("retiring a credential version"):
                    call(name=name, retry=self._retry, timeout=self._timeout)
            except NotFound:
                continue  # already disabled / destroyed / gone: retiring is idempotent

    def delete(self, *, tenant_id: str, connection_id: str, ref: CredentialRef | None) -> None:
        secret = self.secret_name(tenant_id, connection_id)
        marker = f"/secrets/{secret_id_for(tenant_id, connection_id)}/"
        self._cache.drop(lambda cached: marker in cached)
        try:
            with _backend_errors("deleting credentials"):
                self._client.delete_secret(name=secret, retry=self._retry, timeout=self._timeout)
        except NotFound:
            return

    # -- internals --------------------------------------------------------------------------
    def _add_version(self, secret: str, data: bytes) -> str:
        with _backend_errors("storing credentials"):
            version = self._client.add_secret_version(
                request={
                    "parent": secret,
                    "payload": {"data": data, "data_crc32c": _crc32c(data)},
                },
                retry=self._retry,
                timeout=self._timeout,
            )
        return str(version.name)

    def _create_secret(self, secret: str, *, tenant_id: str, provider: str) -> None:
        project, _, secret_id = secret.removeprefix("projects/").partition("/secrets/")
        try:
            with _backend_errors("storing credentials"):
                self._client.create_secret(
                    request={
                        "parent": f"projects/{project}",
                        "secret_id": secret_id,
                        "secret": {
                            "labels": {
                                "tenant": _label(tenant_id),
                                "tenant_hash": tenant_hash(tenant_id),
                                "provider": _label(provider),
                                "managed_by": "tether",
                            },
                            "replication": self._replication(),
                        },
                    },
                    retry=self._retry,
                    timeout=self._timeout,
                )
        except gexc.AlreadyExists:
            return  # created by a concurrent writer of the same connection

    def _replication(self) -> dict[str, Any]:
        if not self._locations:
            automatic: dict[str, Any] = {}
            if self._kms_key:
                automatic["customer_managed_encryption"] = {"kms_key_name": self._kms_key}
            return {"automatic": automatic}
        replicas: list[dict[str, Any]] = []
        for location in self._locations:
            replica: dict[str, Any] = {"location": location}
            if self._kms_key:
                key = self._kms_key.replace("{location}", location)
                replica["customer_managed_encryption"] = {"kms_key_name": key}
            replicas.append(replica)
        return {"user_managed": {"replicas": replicas}}

    def _delete_quietly(self, secret: str) -> None:
        try:
            self._client.delete_secret(name=secret, retry=self._retry, timeout=self._timeout)
        except gexc.NotFound:
            return
        except gexc.GoogleAPICallError as exc:
            # Left behind: a secret with no readable version; deleting the connection's
            # credentials (or a retry of this write) removes it.
            log.warning("could not remove an empty secret (%s)", type(exc).__name__)

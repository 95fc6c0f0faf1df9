"""An in-memory Secret Manager v1 emulator that speaks the real gRPC API.

Google ships no Secret Manager emulator, so this module serves
``google.cloud.secretmanager.v1.SecretManagerService`` on loopback with the request and response
types of ``google-cloud-secret-manager``: the real ``SecretManagerServiceClient``, on an insecure
channel to :attr:`SecretManagerEmulator.address`, talks to it unchanged.

Implemented, with the documented semantics of the real service, is what Tether's Secret
Manager adapter calls and what its tests read back:

- ``CreateSecret``, ``GetSecret``, ``DeleteSecret``, ``ListSecrets``;
- ``AddSecretVersion``, ``AccessSecretVersion``, ``ListSecretVersions``,
  ``DisableSecretVersion``, ``DestroySecretVersion``.

Details that follow the real service:

- names ``projects/<p>/secrets/<id>[/versions/<n|latest>]``; malformed names and parents
  answer INVALID_ARGUMENT;
- secret ids ``[A-Za-z0-9_-]{1,255}``; label rules; replication is required (automatic, or
  user-managed with replica locations and optional
  ``customer_managed_encryption.kms_key_name``);
- versions are numbered 1, 2, 3... and never reused; ``latest`` is the most recently created
  version whatever its state (no fallback to an older enabled one);
- ``AddSecretVersion`` needs a ``payload``, of at most 64 KiB; ``payload.data_crc32c``, when
  sent, must be the CRC32C of the data (else INVALID_ARGUMENT); ``AccessSecretVersion`` always
  returns ``data_crc32c``;
- accessing a DISABLED or DESTROYED version, disabling a destroyed one, and destroying it
  again answer FAILED_PRECONDITION; destroying clears the payload and sets ``destroy_time``;
- lists are sorted by name (secrets) or newest first (versions), paginated with ``page_size``
  (0 means the maximum, 25000) and an opaque ``page_token`` bound to its parent; ``total_size``
  is set.

Not emulated, because nothing in Tether uses it; a request that needs it is refused (an
unfiltered list or an ignored field would pass for the real behaviour): list ``filter``s
(INVALID_ARGUMENT); ``UpdateSecret``, ``GetSecretVersion``, ``EnableSecretVersion``, IAM
(``GetIamPolicy``, ``SetIamPolicy``, ``TestIamPermissions``) and the
``google.cloud.location.Locations`` mixin (UNIMPLEMENTED); regional secrets
(``projects/*/locations/*``), version aliases, annotations, topics, rotation, expiry
(``expire_time``, ``ttl``), ``version_destroy_ttl`` and etag preconditions (INVALID_ARGUMENT).
No authentication or authorization; names keep the project as the caller spelled it (the real
service answers with the project number); state lives in memory only.

Run it in the foreground with ``python -m tether_emulators.secret_manager --port 8086``: it
prints ``export SECRET_MANAGER_EMULATOR_HOST=host:port`` once it listens, and stops on SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import ipaddress
import json
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import google_crc32c
import grpc
from google.cloud.secretmanager_v1.types import resources, service

from tether_emulators.foreground import stop_signals
from tether_emulators.grpc_service import Method, RpcError, serve

__all__ = [
    "EMULATOR_HOST_VAR",
    "MAX_PAYLOAD_BYTES",
    "SERVICE_NAME",
    "WRITE_METHODS",
    "SecretManagerEmulator",
    "main",
]

SERVICE_NAME = "google.cloud.secretmanager.v1.SecretManagerService"
EMULATOR_HOST_VAR = "SECRET_MANAGER_EMULATOR_HOST"
DEFAULT_PORT = 8086

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAGE_SIZE = 25_000
MAX_LABELS = 64

WRITE_METHODS = frozenset(
    {
        "CreateSecret",
        "DeleteSecret",
        "AddSecretVersion",
        "DisableSecretVersion",
        "DestroySecretVersion",
    }
)

State = resources.SecretVersion.State

_PARENT_RE = re.compile(r"projects/(?P<project>[^/]+)")
_SECRET_NAME_RE = re.compile(_PARENT_RE.pattern + r"/secrets/(?P<secret>[^/]+)")
_VERSION_NAME_RE = re.compile(_SECRET_NAME_RE.pattern + r"/versions/(?P<version>[^/]+)")
_SECRET_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")

# Fields of a Secret that Tether never sets and this emulator does not model.
_NOT_EMULATED = (
    "annotations",
    "version_aliases",
    "topics",
    "rotation",
    "expire_time",
    "ttl",
    "version_destroy_ttl",
    "customer_managed_encryption",
)


def _invalid(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _not_found(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.NOT_FOUND, message)


def _precondition(message: str) -> RpcError:
    return RpcError(grpc.StatusCode.FAILED_PRECONDITION, message)


def _crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _copy(message: Any) -> Any:
    """A deep copy of a proto-plus message (what we store must never alias what we answer)."""
    kind = type(message)
    return kind.deserialize(kind.serialize(message))


# --- Names ----------------------------------------------------------------------------------


def _parse_parent(parent: str) -> str:
    if not _PARENT_RE.fullmatch(parent):
        raise _invalid(
            f"Invalid parent [{parent}]: expected projects/* (regional secrets are not emulated)."
        )
    return parent


def _parse_secret_name(name: str) -> tuple[str, str]:
    """``(parent, secret_id)`` of ``projects/*/secrets/*``."""
    match = _SECRET_NAME_RE.fullmatch(name)
    if match is None or not _SECRET_ID_RE.fullmatch(match["secret"]):
        raise _invalid(f"Invalid resource name [{name}]: expected projects/*/secrets/*.")
    return name.rsplit("/secrets/", 1)[0], match["secret"]


def _parse_version_name(name: str) -> tuple[str, str]:
    """``(secret name, version id)`` of ``projects/*/secrets/*/versions/*``."""
    match = _VERSION_NAME_RE.fullmatch(name)
    if match is None or not _SECRET_ID_RE.fullmatch(match["secret"]):
        raise _invalid(f"Invalid resource name [{name}]: expected projects/*/secrets/*/versions/*.")
    version = match["version"]
    if not (version.isdigit() or version == "latest"):
        raise _invalid(f"Invalid secret version id [{version}] in [{name}].")
    return name.rsplit("/versions/", 1)[0], version


# --- Validation -----------------------------------------------------------------------------


def _is_lower_letter(char: str) -> bool:
    return unicodedata.category(char) in ("Ll", "Lo")


def _label_text_ok(text: str, *, key: bool) -> bool:
    if len(text) > 63 or len(text.encode()) > 128:
        return False
    if key and (not text or not _is_lower_letter(text[0])):
        return False
    return all(
        _is_lower_letter(c) or unicodedata.category(c).startswith("N") or c in "_-" for c in text
    )


def _validate_labels(labels: dict[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        raise _invalid(f"A secret can have at most {MAX_LABELS} labels.")
    for key, value in labels.items():
        if not _label_text_ok(key, key=True):
            raise _invalid(f"Invalid label key [{key}].")
        if not _label_text_ok(value, key=False):
            raise _invalid(f"Invalid value for label [{key}].")


def _validate_kms_key(kms_key_name: str) -> None:
    if not kms_key_name:
        raise _invalid("customer_managed_encryption.kms_key_name is required.")


def _validate_replication(replication: Any) -> None:
    if "automatic" in replication:
        automatic = replication.automatic
        if "customer_managed_encryption" in automatic:
            _validate_kms_key(automatic.customer_managed_encryption.kms_key_name)
        return
    if "user_managed" not in replication:
        raise _invalid("Secret.replication must set either automatic or user_managed.")
    replicas = list(replication.user_managed.replicas)
    if not replicas:
        raise _invalid("Replication.user_managed needs at least one replica.")
    seen: set[str] = set()
    for replica in replicas:
        if not replica.location:
            raise _invalid("Every user-managed replica needs a location.")
        if replica.location in seen:
            raise _invalid(f"Duplicate replica location [{replica.location}].")
        seen.add(replica.location)
        if "customer_managed_encryption" in replica:
            _validate_kms_key(replica.customer_managed_encryption.kms_key_name)


# --- State ----------------------------------------------------------------------------------


@dataclass
class _VersionRecord:
    number: int
    create_time: datetime
    data: bytes
    crc32c: int
    client_checksum: bool
    etag: str
    replication_status: Any | None
    state: Any = State.ENABLED
    destroy_time: datetime | None = None


@dataclass
class _SecretRecord:
    name: str
    parent: str
    secret_id: str
    message: Any  # resources.Secret as stored, output-ready (name, create_time, etag set)
    versions: dict[int, _VersionRecord] = field(default_factory=dict)
    next_version: int = 1


@dataclass(frozen=True)
class _Page:
    start_after: str | None


class SecretManagerEmulator:
    """Secret Manager v1 over gRPC, in memory. ``start()`` it, point the real client at
    :attr:`address`, ``stop()`` it. Thread-safe; :attr:`stats` counts calls per method."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._secrets: dict[str, _SecretRecord] = {}
        self._last_etag = 0
        self._server: grpc.Server | None = None
        self._host = "127.0.0.1"
        self._port = 0
        handlers: dict[str, tuple[Callable[[Any], Any], Any, Any]] = {
            "CreateSecret": (self._create_secret, service.CreateSecretRequest, resources.Secret),
            "GetSecret": (self._get_secret, service.GetSecretRequest, resources.Secret),
            "DeleteSecret": (self._delete_secret, service.DeleteSecretRequest, _EmptyType),
            "ListSecrets": (
                self._list_secrets,
                service.ListSecretsRequest,
                service.ListSecretsResponse,
            ),
            "AddSecretVersion": (
                self._add_secret_version,
                service.AddSecretVersionRequest,
                resources.SecretVersion,
            ),
            "AccessSecretVersion": (
                self._access_secret_version,
                service.AccessSecretVersionRequest,
                service.AccessSecretVersionResponse,
            ),
            "ListSecretVersions": (
                self._list_secret_versions,
                service.ListSecretVersionsRequest,
                service.ListSecretVersionsResponse,
            ),
            "DisableSecretVersion": (
                self._disable_secret_version,
                service.DisableSecretVersionRequest,
                resources.SecretVersion,
            ),
            "DestroySecretVersion": (
                self._destroy_secret_version,
                service.DestroySecretVersionRequest,
                resources.SecretVersion,
            ),
        }
        self._stats: dict[str, int] = dict.fromkeys(handlers, 0)
        self._errors: dict[str, int] = dict.fromkeys(handlers, 0)
        self.methods: dict[str, Method] = {
            name: Method(self._counted(name, handler), request_type, response_type)
            for name, (handler, request_type, response_type) in handlers.items()
        }

    # --- Lifecycle ---

    def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the Secret Manager emulator is already started")
            self._server, self._port = serve(SERVICE_NAME, self.methods, host=host, port=port)
            self._host = host
            return self._port

    def stop(self, grace: float | None = None) -> None:
        """Stop serving (idempotent); in-flight calls get ``grace`` seconds to finish."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait()

    def __enter__(self) -> SecretManagerEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` for ``SECRET_MANAGER_EMULATOR_HOST`` (IPv6 hosts in brackets)."""
        if not self._port:
            raise RuntimeError("the Secret Manager emulator is not started")
        host = self._host
        try:
            if ipaddress.ip_address(host).is_unspecified:  # a wildcard bind: dial loopback
                host = "::1" if ":" in host else "127.0.0.1"
        except ValueError:  # a host name
            pass
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self._port}"

    # --- Counters and state ---

    @property
    def stats(self) -> dict[str, int]:
        """Calls received per RPC name (a snapshot; failed calls included)."""
        with self._lock:
            return dict(self._stats)

    @property
    def errors(self) -> dict[str, int]:
        """Calls per RPC name that ended with a non-OK status (a snapshot)."""
        with self._lock:
            return dict(self._errors)

    @property
    def writes(self) -> int:
        """Calls received by the mutating RPCs (:data:`WRITE_METHODS`)."""
        with self._lock:
            return sum(self._stats[name] for name in WRITE_METHODS)

    @property
    def secret_count(self) -> int:
        with self._lock:
            return len(self._secrets)

    def reset_stats(self) -> None:
        with self._lock:
            for counters in (self._stats, self._errors):
                for name in counters:
                    counters[name] = 0

    def reset(self) -> None:
        """Forget every secret and zero the counters."""
        with self._lock:
            self._secrets.clear()
        self.reset_stats()

    def _counted(self, name: str, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(request: Any) -> Any:
            with self._lock:
                self._stats[name] += 1
            try:
                return handler(request)
            except RpcError:
                with self._lock:
                    self._errors[name] += 1
                raise

        return call

    # --- Helpers (callers hold the lock) ---

    def _now(self) -> datetime:
        return self._clock()

    def _new_etag(self) -> str:
        self._last_etag = max(time.time_ns() // 1000, self._last_etag + 1)
        return f'"{self._last_etag:x}"'

    def _secret(self, name: str) -> _SecretRecord:
        _parse_secret_name(name)
        record = self._secrets.get(name)
        if record is None:
            raise _not_found(f"Secret [{name}] not found or has no versions.")
        return record

    def _version(self, name: str) -> tuple[_SecretRecord, _VersionRecord]:
        secret_name, version_id = _parse_version_name(name)
        record = self._secret(secret_name)
        number: int | None = (
            max(record.versions, default=None) if version_id == "latest" else int(version_id)
        )
        version = record.versions.get(number) if number is not None else None
        if version is None:
            raise _not_found(f"Secret Version [{name}] not found.")
        return record, version

    def _version_message(self, record: _SecretRecord, version: _VersionRecord) -> Any:
        message = resources.SecretVersion(
            name=f"{record.name}/versions/{version.number}",
            create_time=version.create_time,
            state=version.state,
            etag=version.etag,
            client_specified_payload_checksum=version.client_checksum,
        )
        if version.destroy_time is not None:
            message.destroy_time = version.destroy_time
        if version.replication_status is not None:
            message.replication_status = version.replication_status
        return message

    @staticmethod
    def _refuse_etag(etag: str) -> None:
        if etag:
            raise _invalid("etag preconditions are not emulated.")

    @staticmethod
    def _kms_status(kms_key_name: str) -> Any:
        return resources.CustomerManagedEncryptionStatus(
            kms_key_version_name=f"{kms_key_name}/cryptoKeyVersions/1"
        )

    def _replication_status(self, secret: Any) -> Any | None:
        if "replication" not in secret:
            return None
        replication = secret.replication
        status = resources.ReplicationStatus
        if "automatic" in replication:
            automatic = status.AutomaticStatus()
            if "customer_managed_encryption" in replication.automatic:
                kms = replication.automatic.customer_managed_encryption.kms_key_name
                automatic.customer_managed_encryption = self._kms_status(kms)
            return status(automatic=automatic)
        replicas = []
        for replica in replication.user_managed.replicas:
            replica_status = status.UserManagedStatus.ReplicaStatus(location=replica.location)
            if "customer_managed_encryption" in replica:
                kms = replica.customer_managed_encryption.kms_key_name
                replica_status.customer_managed_encryption = self._kms_status(kms)
            replicas.append(replica_status)
        return status(user_managed=status.UserManagedStatus(replicas=replicas))

    # --- Secrets ---

    def _create_secret(self, request: Any) -> Any:
        parent = _parse_parent(request.parent)
        secret_id = request.secret_id
        if not _SECRET_ID_RE.fullmatch(secret_id):
            raise _invalid(
                f"Invalid secret_id [{secret_id}]: 1 to 255 letters, digits, '_' or '-'."
            )
        secret = _copy(request.secret)
        for unsupported in _NOT_EMULATED:
            if unsupported in secret:
                raise _invalid(f"Secret.{unsupported} is not emulated.")
        if "replication" not in secret:
            raise _invalid("Secret.replication is required.")
        _validate_replication(secret.replication)
        _validate_labels(dict(secret.labels))
        name = f"{parent}/secrets/{secret_id}"
        with self._lock:
            if name in self._secrets:
                raise RpcError(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
            secret.name = name
            secret.create_time = self._now()
            secret.etag = self._new_etag()
            del secret.tags  # input only
            del secret.policy_member  # output only, and not modelled
            self._secrets[name] = _SecretRecord(name, parent, secret_id, secret)
            return _copy(secret)

    def _get_secret(self, request: Any) -> Any:
        with self._lock:
            return _copy(self._secret(request.name).message)

    def _delete_secret(self, request: Any) -> None:
        with self._lock:
            self._refuse_etag(request.etag)
            record = self._secret(request.name)
            del self._secrets[record.name]

    def _list_secrets(self, request: Any) -> Any:
        parent = _parse_parent(request.parent)
        _refuse_filter(request.filter)
        page_size = _page_size(request.page_size)
        page = _decode_token(request.page_token, parent)
        with self._lock:
            records = sorted(
                (r for r in list(self._secrets.values()) if r.parent == parent),
                key=lambda r: r.name,
            )
            total = len(records)
            if page.start_after is not None:
                records = [r for r in records if r.name > page.start_after]
            chunk = records[:page_size]
            more = len(records) > page_size
            return service.ListSecretsResponse(
                secrets=[_copy(r.message) for r in chunk],
                next_page_token=_encode_token(chunk[-1].name, parent) if more else "",
                total_size=total,
            )

    # --- Versions ---

    def _add_secret_version(self, request: Any) -> Any:
        if "payload" not in request:
            raise _invalid("Field [payload] is required.")
        payload = request.payload
        data = bytes(payload.data)
        if len(data) > MAX_PAYLOAD_BYTES:
            raise _invalid(
                f"Secret payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes."
            )
        checksum = _crc32c(data)
        client_checksum = "data_crc32c" in payload
        if client_checksum and payload.data_crc32c != checksum:
            raise _invalid(
                "Checksum mismatch: the data_crc32c of the payload does not match the CRC32C "
                "of its data (data integrity check failed)."
            )
        with self._lock:
            record = self._secret(request.parent)
            number = record.next_version
            record.next_version += 1
            version = _VersionRecord(
                number=number,
                create_time=self._now(),
                data=data,
                crc32c=checksum,
                client_checksum=client_checksum,
                etag=self._new_etag(),
                replication_status=self._replication_status(record.message),
            )
            record.versions[number] = version
            return self._version_message(record, version)

    def _access_secret_version(self, request: Any) -> Any:
        with self._lock:
            record, version = self._version(request.name)
            name = f"{record.name}/versions/{version.number}"
            if version.state != State.ENABLED:
                raise _precondition(f"Secret Version [{name}] is in {version.state.name} state.")
            return service.AccessSecretVersionResponse(
                name=name,
                payload=resources.SecretPayload(data=version.data, data_crc32c=version.crc32c),
            )

    def _list_secret_versions(self, request: Any) -> Any:
        _refuse_filter(request.filter)
        page_size = _page_size(request.page_size)
        page = _decode_token(request.page_token, request.parent)
        with self._lock:
            record = self._secret(request.parent)
            versions = sorted(record.versions.values(), key=lambda v: v.number, reverse=True)
            total = len(versions)
            if page.start_after is not None:
                if not page.start_after.isdigit():
                    raise _invalid("The page_token does not belong to this parent.")
                after = int(page.start_after)
                versions = [v for v in versions if v.number < after]
            chunk = versions[:page_size]
            more = len(versions) > page_size
            return service.ListSecretVersionsResponse(
                versions=[self._version_message(record, v) for v in chunk],
                next_page_token=(
                    _encode_token(str(chunk[-1].number), request.parent) if more else ""
                ),
                total_size=total,
            )

    def _change_state(self, request: Any, target: Any) -> Any:
        with self._lock:
            self._refuse_etag(request.etag)
            record, version = self._version(request.name)
            name = f"{record.name}/versions/{version.number}"
            if version.state == State.DESTROYED:
                raise _precondition(f"Secret Version [{name}] is in DESTROYED state.")
            version.state = target
            if target == State.DESTROYED:
                version.data = b""
                version.crc32c = 0
                version.destroy_time = self._now()
            version.etag = self._new_etag()
            return self._version_message(record, version)

    def _disable_secret_version(self, request: Any) -> Any:
        return self._change_state(request, State.DISABLED)

    def _destroy_secret_version(self, request: Any) -> Any:
        return self._change_state(request, State.DESTROYED)


class _EmptyType:
    """The serializer pair for ``google.protobuf.Empty`` answers. Empty is a plain protobuf
    message, not a proto-plus type (no ``serialize``), and its wire form is zero bytes, which
    the client's ``Empty.FromString`` reads back; handlers answering Empty return ``None``."""

    @staticmethod
    def serialize(message: None) -> bytes:
        return b""

    @staticmethod
    def deserialize(data: bytes) -> None:
        return None


# --- Pages ----------------------------------------------------------------------------------


def _page_size(requested: int) -> int:
    if requested < 0:
        raise _invalid("page_size must not be negative.")
    return min(requested or MAX_PAGE_SIZE, MAX_PAGE_SIZE)


def _refuse_filter(filter_text: str) -> None:
    if filter_text:
        raise _invalid("List filters are not emulated; list the parent and filter the result.")


def _token_scope(parent: str) -> str:
    return hashlib.sha256(parent.encode()).hexdigest()[:16]


def _encode_token(last_key: str, parent: str) -> str:
    body = json.dumps({"after": last_key, "scope": _token_scope(parent)})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode_token(token: str, parent: str) -> _Page:
    if not token:
        return _Page(None)
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = body["after"]
        scope = body["scope"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid(f"Invalid page_token [{token}].") from None
    if not isinstance(after, str) or scope != _token_scope(parent):
        raise _invalid("The page_token does not belong to this parent.")
    return _Page(after)


# --- Command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tether_emulators.secret_manager",
        description="An in-memory Secret Manager v1 emulator speaking the real gRPC API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on (0: any free port)"
    )
    args = parser.parse_args(argv)
    emulator = SecretManagerEmulator()
    try:
        emulator.start(args.host, args.port)
    except (OSError, RuntimeError) as exc:
        sys.stderr.write(f"cannot start the Secret Manager emulator: {exc}\n")
        return 1
    with stop_signals() as stop:
        sys.stdout.write(f"export {EMULATOR_HOST_VAR}={emulator.address}\n")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            emulator.stop(grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

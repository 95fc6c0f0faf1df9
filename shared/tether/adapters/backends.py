"""Which adapter backs each port, as configured: ``TETHER_STORE`` (SQLite or Firestore),
``TETHER_SECRETS`` (sealed in the store, or Secret Manager) and ``TETHER_TASKS`` (the embedded
queue, or Cloud Tasks). One code path whatever the choice: the composition root asks here and
hands the result to the services, which see only the ports.

Imports stay inside each function: an instance loads the client libraries of its own backends
only (the Google clients are slow to import).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.adapters.local_tasks import Periodic
    from tether.config import Settings
    from tether.crypto import Sealer
    from tether.domain.clock import Clock
    from tether.ports import ConnectionStore, IdempotencyKeys, SecretStore, TaskQueue

__all__ = ["connection_store", "idempotency_keys", "secret_store", "task_queue"]


def connection_store(settings: Settings) -> ConnectionStore:
    s = settings
    if s.store == "firestore":
        from tether.adapters.firestore import FirestoreConnectionStore

        return FirestoreConnectionStore.for_project(
            s.gcp_project or "", s.firestore_database, retention=s.retention
        )
    from tether.adapters.sqlite import SqliteConnectionStore

    return SqliteConnectionStore(s.sqlite_path, retention=s.retention)


def idempotency_keys(settings: Settings) -> IdempotencyKeys:
    """The idempotency keys of action runs, in the store the settings name."""
    s = settings
    if s.store == "firestore":
        from tether.adapters.firestore.idempotency_keys import FirestoreIdempotencyKeys
        from tether.adapters.firestore.store import firestore_client

        return FirestoreIdempotencyKeys(firestore_client(s.gcp_project or "", s.firestore_database))
    from tether.adapters.sqlite.idempotency_keys import SqliteIdempotencyKeys

    return SqliteIdempotencyKeys(s.sqlite_path)


def secret_store(settings: Settings, sealer: Sealer, *, clock: Clock) -> SecretStore:
    """Secret Manager, or payloads sealed by ``sealer`` on the records, whose retired versions'
    tombstones live next to the records that hold the sealed credentials, stamped by
    ``clock`` (housekeeping purges them by the same clock)."""
    s = settings
    if s.secrets == "secret_manager":
        from tether.adapters.secret_manager import SecretManagerSecretStore
        from tether.adapters.secret_manager.client import secret_manager_client

        return SecretManagerSecretStore(
            secret_manager_client(),
            project=s.gcp_project or "",
            locations=s.secret_location_list,
            kms_key=s.secret_kms_key,
            cache_seconds=s.secret_cache_seconds,
            cache_size=s.secret_cache_size,
        )
    from tether.adapters.db_secrets import DbSecretStore, RetiredVersions

    retired: RetiredVersions
    if s.store == "firestore":
        from tether.adapters.firestore.retired_versions import FirestoreRetiredVersions
        from tether.adapters.firestore.store import firestore_client

        retired = FirestoreRetiredVersions(
            firestore_client(s.gcp_project or "", s.firestore_database), clock=clock
        )
    else:
        from tether.adapters.sqlite.retired_versions import SqliteRetiredVersions

        retired = SqliteRetiredVersions(s.sqlite_path, clock=clock)
    return DbSecretStore(sealer, retired=retired)


def task_queue(
    settings: Settings,
    dispatch: Callable[[str, dict[str, Any]], None],
    *,
    clock: Clock,
    periodic: Callable[[], Sequence[Periodic]],
) -> TaskQueue:
    """Cloud Tasks (whose HTTP targets call the ``tasks`` function), or the embedded queue,
    which runs ``dispatch`` itself on its worker thread (when ``TETHER_TASK_WORKER`` is on)
    and, on ``clock``, the ``periodic`` tasks Cloud Scheduler runs in the cloud."""
    s = settings
    if s.tasks == "cloud_tasks":
        from tether.adapters.cloud_tasks import CloudTasksQueue
        from tether.adapters.cloud_tasks.client import cloud_tasks_client

        # Settings.check() guarantees the project, URL and service account.
        return CloudTasksQueue(
            cloud_tasks_client(),
            project=s.gcp_project or "",
            location=s.tasks_location,
            queue_for=s.task_queue,
            tasks_url=s.tasks_url or "",
            service_account=s.tasks_service_account or "",
            audience=s.tasks_audience,
        )
    from tether.adapters.local_tasks import LocalTaskQueue

    queue = LocalTaskQueue(
        s.tasks_path,
        dispatch,
        clock=clock,
        max_attempts=s.task_max_attempts,
        lease_seconds=s.task_lease_seconds,
        periodic=periodic(),
    )
    if s.task_worker:
        queue.start()
    return queue

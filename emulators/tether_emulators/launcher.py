"""Start the three emulators Tether's cloud backends talk to, as one set.

Used by ``tether emulators start`` (all three, in the foreground) and ``tether dev --gcp``
(only those whose ``*_EMULATOR_HOST`` variable is not already set).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tether_emulators.cloud_tasks import CloudTasksEmulator
from tether_emulators.firestore import FirestoreEmulator
from tether_emulators.secret_manager import SecretManagerEmulator

__all__ = ["EMULATOR_VARIABLES", "RunningEmulators", "start_emulators"]

FIRESTORE = "FIRESTORE_EMULATOR_HOST"
SECRET_MANAGER = "SECRET_MANAGER_EMULATOR_HOST"  # noqa: S105 - a variable name
CLOUD_TASKS = "CLOUD_TASKS_EMULATOR_HOST"
CLOUD_TASKS_JWKS = "CLOUD_TASKS_EMULATOR_JWKS_URL"
EMULATOR_VARIABLES = (FIRESTORE, SECRET_MANAGER, CLOUD_TASKS)


@dataclass
class RunningEmulators:
    firestore: FirestoreEmulator | None = None
    secret_manager: SecretManagerEmulator | None = None
    cloud_tasks: CloudTasksEmulator | None = None
    environment: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for emulator in (self.cloud_tasks, self.secret_manager, self.firestore):
            if emulator is not None:
                emulator.stop()

    def export_lines(self) -> list[str]:
        return [f"export {name}={value}" for name, value in self.environment.items()]


def start_emulators(
    *,
    host: str = "127.0.0.1",
    firestore_port: int = 0,
    secret_manager_port: int = 0,
    tasks_port: int = 0,
    tasks_http_port: int = 0,
    already_running: Mapping[str, str] | None = None,
) -> RunningEmulators:
    """Start every emulator not named in ``already_running`` (variable → address); returns
    them with the environment that points clients at all three. On failure, whatever was
    started is stopped again."""
    running = dict(already_running or {})
    started = RunningEmulators()
    try:
        if FIRESTORE not in running:
            started.firestore = FirestoreEmulator(host, firestore_port).start()
            running[FIRESTORE] = started.firestore.address
        if SECRET_MANAGER not in running:
            started.secret_manager = SecretManagerEmulator()
            started.secret_manager.start(host, secret_manager_port)
            running[SECRET_MANAGER] = started.secret_manager.address
        if CLOUD_TASKS not in running:
            started.cloud_tasks = CloudTasksEmulator(http_port=tasks_http_port)
            started.cloud_tasks.start(host, tasks_port)
            running[CLOUD_TASKS] = started.cloud_tasks.address
            running[CLOUD_TASKS_JWKS] = started.cloud_tasks.jwks_url
    except BaseException:
        started.stop()
        raise
    started.environment = {
        name: running[name] for name in (*EMULATOR_VARIABLES, CLOUD_TASKS_JWKS) if name in running
    }
    return started

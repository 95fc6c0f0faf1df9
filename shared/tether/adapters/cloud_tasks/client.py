"""The Cloud Tasks client, pointed at the emulator when ``CLOUD_TASKS_EMULATOR_HOST`` is set
(the library itself knows no such variable: the emulator speaks plain gRPC on loopback)."""

from __future__ import annotations

import os

from google.cloud.tasks_v2 import CloudTasksClient

__all__ = ["EMULATOR_HOST_VAR", "cloud_tasks_client"]

EMULATOR_HOST_VAR = "CLOUD_TASKS_EMULATOR_HOST"


def cloud_tasks_client(emulator_host: str | None = None) -> CloudTasksClient:
    host = emulator_host or os.environ.get(EMULATOR_HOST_VAR)
    if not host:
        return CloudTasksClient()
    import grpc
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    transport = CloudTasksGrpcTransport(channel=grpc.insecure_channel(host))
    return CloudTasksClient(transport=transport)

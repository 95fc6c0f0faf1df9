"""The Secret Manager client, pointed at the emulator when ``SECRET_MANAGER_EMULATOR_HOST`` is
set (the library itself knows no such variable: the emulator speaks plain gRPC on loopback)."""

from __future__ import annotations

import os

from google.cloud.secretmanager_v1 import SecretManagerServiceClient

__all__ = ["EMULATOR_HOST_VAR", "secret_manager_client"]

EMULATOR_HOST_VAR = "SECRET_MANAGER_EMULATOR_HOST"


def secret_manager_client(emulator_host: str | None = None) -> SecretManagerServiceClient:
    host = emulator_host or os.environ.get(EMULATOR_HOST_VAR)
    if not host:
        return SecretManagerServiceClient()
    import grpc
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    transport = SecretManagerServiceGrpcTransport(channel=grpc.insecure_channel(host))
    return SecretManagerServiceClient(transport=transport)

"""The keyring source for a keyring kept in a secret manager: which origin the settings name
(``TETHER_KEYRING_SECRET`` → Secret Manager, ``TETHER_KEYRING_AWS_SECRET`` → AWS Secrets
Manager), wrapped in :class:`~tether.crypto.remote_keyring_source.RemoteKeyringSource`."""

from __future__ import annotations

from tether.config import Settings
from tether.crypto.remote_keyring_source import KeyringOrigin, RemoteKeyringSource

__all__ = ["keyring_origin_for", "remote_keyring_source"]


def keyring_origin_for(settings: Settings) -> KeyringOrigin | None:
    if settings.keyring_secret:
        from tether.adapters.secret_manager.client import secret_manager_client
        from tether.adapters.secret_manager.keyring import SecretManagerKeyringOrigin

        return SecretManagerKeyringOrigin(secret_manager_client(), settings.keyring_secret)
    if settings.keyring_aws_secret:
        from tether.adapters.aws_secrets.keyring import (
            AwsSecretsKeyringOrigin,
            secrets_manager_client,
        )

        client = secrets_manager_client(settings.keyring_aws_region)
        return AwsSecretsKeyringOrigin(client, settings.keyring_aws_secret)
    return None


def remote_keyring_source(settings: Settings) -> RemoteKeyringSource | None:
    """The source of a remote keyring, or ``None`` when the settings name none."""
    origin = keyring_origin_for(settings)
    if origin is None:
        return None
    return RemoteKeyringSource(origin, interval=settings.keyring_refresh_seconds)

"""The keyring in an AWS Secrets Manager secret (``TETHER_KEYRING_AWS_SECRET``: its name or
ARN, in ``TETHER_KEYRING_AWS_REGION``): ``GetSecretValue`` of the current version
(``AWSCURRENT``), and ``PutSecretValue`` for a new one, which AWS makes current.

Through boto3, with its own credential chain and endpoint settings (``AWS_ENDPOINT_URL`` points
it at a local stand-in in tests). boto3 is imported only when this origin is configured.
Errors name the secret and AWS's error code, never the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tether.domain.errors import BackendUnavailable

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["AwsSecretsKeyringOrigin", "secrets_manager_client"]


def secrets_manager_client(region: str | None = None) -> BaseClient:
    import boto3

    return boto3.client("secretsmanager", region_name=region)


class AwsSecretsKeyringOrigin:
    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id

    @property
    def name(self) -> str:
        return self._secret_id

    def read(self) -> str:
        response = self._call("reading", "get_secret_value", SecretId=self._secret_id)
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise BackendUnavailable(
                f"the keyring {self._secret_id} has no SecretString",
                code="KEYRING_UNAVAILABLE",
                retryable=False,
            )
        return text

    def write(self, text: str) -> None:
        self._call("writing", "put_secret_value", SecretId=self._secret_id, SecretString=text)

    def _call(self, action: str, operation: str, **params: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise BackendUnavailable(
                f"AWS Secrets Manager refused {action} the keyring {self._secret_id} ({code})",
                code="KEYRING_UNAVAILABLE",
            ) from None
        except BotoCoreError as exc:
            raise BackendUnavailable(
                f"AWS Secrets Manager is unavailable ({action} the keyring {self._secret_id}: "
                f"{type(exc).__name__})",
                code="KEYRING_UNAVAILABLE",
            ) from None
        return response

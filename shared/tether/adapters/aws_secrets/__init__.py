"""AWS Secrets Manager, for the keyring of teams that keep their keys there."""

from tether.adapters.aws_secrets.keyring import AwsSecretsKeyringOrigin

__all__ = ["AwsSecretsKeyringOrigin"]

"""Credential payloads in Google Secret Manager."""

from tether.adapters.secret_manager.store import SecretManagerSecretStore, secret_id_for

__all__ = ["SecretManagerSecretStore", "secret_id_for"]

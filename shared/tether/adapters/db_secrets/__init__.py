"""The "db" SecretStore: credential payloads sealed with AES-256-GCM on the record itself."""

from tether.adapters.db_secrets.retired_versions import MemoryRetiredVersions, RetiredVersions
from tether.adapters.db_secrets.store import DbSecretStore

__all__ = ["DbSecretStore", "MemoryRetiredVersions", "RetiredVersions"]

"""Connections: the tenant-scoped records of connected accounts, their credentials (stored via
the secret store, shown only as masked hints), lifecycle events, key rotation and housekeeping."""

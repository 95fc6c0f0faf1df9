"""Embedded ConnectionStore on one SQLite file (WAL)."""

from tether.adapters.sqlite.store import SqliteConnectionStore

__all__ = ["SqliteConnectionStore"]

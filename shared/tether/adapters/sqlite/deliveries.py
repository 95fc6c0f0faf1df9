"""SQLite :class:`~tether.ports.DeliveryRepository`: the ``deliveries`` table, keyed by
``(tenant_id, id)``."""

from __future__ import annotations

from tether.adapters.record_decoding import decode_many, decode_one
from tether.adapters.sqlite.database import SqliteDatabase
from tether.adapters.sqlite.schema import format_time
from tether.domain.errors import InvalidRequest
from tether.domain.models import Delivery

__all__ = ["SqliteDeliveries"]


class SqliteDeliveries:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def record_delivery(self, delivery: Delivery) -> None:
        with self._database.write() as db:
            db.execute(
                "INSERT INTO deliveries (tenant_id, id, connection_id, created_at, doc) "
                "VALUES (?,?,?,?,?) ON CONFLICT (tenant_id, id) DO UPDATE SET "
                "connection_id = excluded.connection_id, created_at = excluded.created_at, "
                "doc = excluded.doc",
                (
                    delivery.tenant_id,
                    delivery.id,
                    delivery.connection_id,
                    format_time(delivery.created_at),
                    delivery.model_dump_json(),
                ),
            )

    def get_delivery(self, tenant_id: str, delivery_id: str) -> Delivery | None:
        row = (
            self._database.db()
            .execute(
                "SELECT doc FROM deliveries WHERE tenant_id = ? AND id = ?",
                (tenant_id, delivery_id),
            )
            .fetchone()
        )
        return None if row is None else decode_one(Delivery, row[0], record_id=delivery_id)

    def list_deliveries(
        self, tenant_id: str, *, connection_id: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        if limit < 1:
            raise InvalidRequest("limit must be at least 1")
        sql = "SELECT id, doc FROM deliveries WHERE tenant_id = ?"
        args: list[object] = [tenant_id]
        if connection_id is not None:
            sql += " AND connection_id = ?"
            args.append(connection_id)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = self._database.db().execute(sql, args).fetchall()
        return decode_many(Delivery, ((r[0], r[1]) for r in rows))[0]

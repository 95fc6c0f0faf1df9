"""The cold start's library floor: the connection list's libraries without Tether's code.

What ``connections`` needs from libraries to answer an authenticated ``GET /`` — Flask under
functions-framework, pydantic, PyJWT (which loads ``cryptography``) and ``sqlite3`` — doing the
least that request does: verify an HS256 bearer token, open a new SQLite file in WAL mode and
read the tenant's rows, answer a pydantic body. It starts as ``functions/main.py`` does (no
collection while it loads, then frozen; no pydantic plugin lookup). No Tether module is
imported, so its cold start over the bare function's is the part of the ratio that Tether's
own code cannot remove.
"""

from __future__ import annotations

import gc
import os

gc.disable()
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import sqlite3  # noqa: E402 - imported with the collector off, as Tether's functions do

import functions_framework  # noqa: E402
import jwt  # noqa: E402
from flask import Request, Response  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402


class Principal(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    tenant_id: str
    user_id: str


class ConnectionView(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    id: str
    provider: str


class ConnectionList(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    connections: list[ConnectionView]
    next_cursor: str | None = None


gc.freeze()
gc.enable()


@functions_framework.http
def connections(request: Request) -> Response:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    claims = jwt.decode(
        token,
        os.environ["TETHER_DEV_JWT_SECRET"],
        algorithms=["HS256"],
        options={"require": ["exp", "iat", "sub"]},
    )
    principal = Principal(tenant_id=claims["tenant_id"], user_id=claims["sub"])
    db = sqlite3.connect(
        os.path.join(os.environ["TETHER_DATA_DIR"], "floor.sqlite3"), isolation_level=None
    )
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS connections (tenant_id TEXT, id TEXT, doc TEXT)")
        rows = db.execute(
            "SELECT id, doc FROM connections WHERE tenant_id = ?", (principal.tenant_id,)
        ).fetchall()
    finally:
        db.close()
    body = ConnectionList(connections=[ConnectionView(id=r[0], provider=r[1]) for r in rows])
    return Response(body.model_dump_json(), mimetype="application/json")

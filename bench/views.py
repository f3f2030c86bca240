"""What the benchmark apps do with a session, the same in every framework."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from bench._common import session_data

BIG = session_data(2048)  # a new session stores this much: 2 KB of data


def write(session: MutableMapping[str, Any]) -> None:
    """A modifying request: bump a counter; a new session first gets its 2 KB of data."""
    if "blob" not in session:
        session.update(BIG)
    session["visits"] = session.get("visits", 0) + 1


def raw_get(client: Any, table: str, key: str) -> str:
    """The bare baseline's one raw GetItem (strongly consistent, like the store's)."""
    item = client.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)["Item"]
    return str(len(item))


async def araw_get(client: Any, table: str, key: str) -> str:
    reply = await client.get_item(TableName=table, Key={"id": {"S": key}}, ConsistentRead=True)
    return str(len(reply["Item"]))


def flask_routes(app: Any, session: MutableMapping[str, Any]) -> None:
    """The benchmark endpoints on a Flask app whose session is ``session`` (``flask.session``):
    ``/read``, ``/write`` and ``/unused``, the same for every session library."""

    @app.get("/read")
    def read() -> str:
        return str(session.get("user"))

    @app.get("/write")
    def write_() -> str:
        write(session)
        return "ok"

    @app.get("/unused")
    def unused() -> str:
        return "ok"

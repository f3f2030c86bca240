"""Capacity units per 1,000 requests for a realistic mix, against a store that writes the whole
item on every request (the common design: the AWS SDK for PHP's session handler, and most
DynamoDB session backends for Python frameworks).

The mix: ``users`` users each make a request every 30 s for an hour (the stores' clock is
injected, so the hour passes in seconds); each request is read-only (70%), modifies the session
(20%) or comes from a new visitor who stores a 2 KB session (10%). Both variants serve the
same requests, in the same order, through the same WSGI app; only the middleware differs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bench import views
from bench._common import Clock, Meter, new_table, session_data
from bench.adapters import WSGIAdapter, call_wsgi
from dynamodb_sessions import Codec, StoreConfig
from dynamodb_sessions._core.cookies import read_cookie
from dynamodb_sessions._core.items import build_item, idle_timeout, item_size, parse_item
from dynamodb_sessions.ids import is_well_formed, new_session_id, storage_key
from dynamodb_sessions.store import make_client

SHARES = {"read-only": 0.70, "modified": 0.20, "new": 0.10}
INTERVAL = 30  # seconds between a user's requests
HOUR = 3600


class BaselineMiddleware:
    """The common design, for comparison: GetItem on every request that has a cookie, and a
    PutItem of the whole item at the end of every request that has a session, changed or not.
    Items are built exactly as the library builds them (same codec, same attributes), so the
    two variants' item sizes are the same."""

    def __init__(self, app: Any, cfg: StoreConfig, client: Any, clock: Clock) -> None:
        self.app, self.cfg, self.client, self.clock = app, cfg, client, clock
        self.codec = Codec(compress_threshold=cfg.compress_threshold)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        now = int(self.clock())
        session_id = read_cookie(environ.get("HTTP_COOKIE"), "session")
        data: dict[str, Any] = {}
        created = now
        if session_id and is_well_formed(session_id):
            key = storage_key(session_id)
            reply = self.client.get_item(
                TableName=self.cfg.table, Key={"id": {"S": key}}, ConsistentRead=True
            )
            if "Item" in reply:
                state = parse_item(reply["Item"], self.cfg.attributes)
                if now < state.accessed + idle_timeout(state.timeout, self.cfg):
                    data = {
                        name: self.codec.decode_value(name, raw, item_key=key)
                        for name, raw in state.values.items()
                    }
                    created = state.created
        if not data:
            session_id = new_session_id()
        environ["dynamodb_sessions.session"] = data

        def finishing(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if data:
                assert session_id is not None
                key = storage_key(session_id)
                item = build_item(
                    key,
                    {
                        name: self.codec.encode_value(name, value, item_key=key)
                        for name, value in data.items()
                    },
                    now=now,
                    created=created,
                    timeout=self.cfg.timeout,
                    version=1,
                    user_id=None,
                    config=self.cfg,
                )
                self.client.put_item(TableName=self.cfg.table, Item=item)
                headers = [*headers, ("Set-Cookie", f"session={session_id}; Path=/")]
            return start_response(status, headers, exc_info)

        return self.app(environ, finishing)


@dataclass
class MixResult:
    variant: str
    requests: int
    calls: dict[str, int]
    rcu: float
    wcu: float
    reported: float
    agrees: bool

    def per_1000(self, units: float) -> float:
        return 1000 * units / self.requests if self.requests else 0.0


def _plan(users: int, ticks: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    kinds, weights = list(SHARES), list(SHARES.values())
    return [[rng.choices(kinds, weights)[0] for _ in range(users)] for _ in range(ticks)]


def _new_cookie(headers: list[tuple[str, str]], old: str) -> str:
    for name, value in headers:
        if name == "Set-Cookie" and value.startswith("session="):
            return value.split(";", 1)[0].split("=", 1)[1] or old
    return old


def _drive(app: Any, clock: Clock, users: list[str], plan: list[list[str]]) -> None:
    for tick in plan:
        for index, kind in enumerate(tick):
            cookie = None if kind == "new" else users[index]
            path = "/read" if kind == "read-only" else "/write"
            status, headers = call_wsgi(app, path, f"session={cookie}" if cookie else None)
            assert status == 200, status
            users[index] = _new_cookie(headers, users[index])
        clock.advance(INTERVAL)


def _result(variant: str, meter: Meter, requests: int) -> MixResult:
    calls: dict[str, int] = {}
    for record in meter.records:
        calls[record.operation] = calls.get(record.operation, 0) + 1
    return MixResult(
        variant=variant,
        requests=requests,
        calls=calls,
        rcu=sum(r.computed or 0 for r in meter.records if r.read),
        wcu=sum(r.computed or 0 for r in meter.records if not r.read),
        reported=sum(r.reported or 0 for r in meter.records),
        agrees=all(r.computed == r.reported for r in meter.records),
    )


def measure(endpoint: str, sizer: Any, users: int, minutes: int = 60) -> dict[str, Any]:
    ticks = minutes * 60 // INTERVAL
    plan = _plan(users, ticks, seed=7)
    results = []
    item_bytes = 0
    for variant in ("dynamodb-sessions", "baseline"):
        cfg = new_table(endpoint, f"mix-{variant[:4]}")
        meter, clock = Meter(sizer), Clock()
        adapter = WSGIAdapter(cfg, meter, clock)
        cookies = [adapter.create(session_data(2048, seed=i)) for i in range(users)]
        if variant == "baseline":
            client = meter.attach(make_client(cfg.connection))
            app: Any = BaselineMiddleware(adapter.app.app, cfg, client, clock)
        else:
            app = adapter.app
        _drive(app, clock, cookies, plan)
        results.append(_result(variant, meter, users * ticks))
        reply = sizer.get_item(
            TableName=cfg.table, Key={"id": {"S": storage_key(cookies[0])}}, ConsistentRead=True
        )
        if "Item" in reply:
            item_bytes = item_size(reply["Item"])
        adapter.close()
    ours, base = results
    return {
        "users": users,
        "minutes": minutes,
        "requests": users * ticks,
        "item_bytes": item_bytes,
        "data_bytes": len(views.BIG["blob"]) + 50,
        "ours": ours,
        "baseline": base,
    }

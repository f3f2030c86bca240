"""Capacity units per 1,000 requests for a realistic mix, against a store that writes the whole
item on every request (the common design: the AWS SDK for PHP's session handler, and most
DynamoDB session backends for Python frameworks).

The mix: ``users`` signed-in users each make a request every 30 s for an hour (the stores'
clock is injected, so the hour passes in seconds); each request is read-only (70%), modifies
the session (20%) or comes from a new visitor who signs in and stores a session (10%): 2 KB
of data, or a small realistic one (a user id, a CSRF token, a few flags). Every session has a
user, so it is in the user index, whose writes are counted (``Meter``). Every variant serves
the same requests, in the same order, through the same WSGI app; only the middleware, the
read mode or the index's projection differs.

    python -m bench.mix            # both sizes, every variant (prints markdown tables)
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bench import views
from bench._common import (
    TIMEOUT,
    Clock,
    Meter,
    connection,
    dynalite,
    metered,
    new_table,
    session_data,
    sizer_client,
)
from bench.adapters import WSGIAdapter, call_wsgi
from dynamodb_sessions import Codec, Session, StoreConfig
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.cookies import read_cookie
from dynamodb_sessions._core.items import build_item, idle_timeout, item_size, parse_item
from dynamodb_sessions.ids import is_well_formed, new_session_id, storage_key
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
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
                if now < state.accessed + idle_timeout(state.timeout, self.cfg):  # still valid
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
                    user_id=data.get("user"),
                    config=self.cfg,
                )
                self.client.put_item(TableName=self.cfg.table, Item=item)
                headers = [*headers, ("Set-Cookie", f"session={session_id}; Path=/")]
            return start_response(status, headers, exc_info)

        return self.app(environ, finishing)


@dataclass(frozen=True)
class Variant:
    """One way of serving the mix."""

    name: str
    baseline: bool = False  # the write-every-request middleware instead of the library's
    consistent_read: bool = True
    old_index: bool = False  # the user index as 0.1 made it (projecting the validity times)


VARIANTS = (
    Variant("dynamodb-sessions"),
    Variant("dynamodb-sessions, eventually consistent reads", consistent_read=False),
    Variant("dynamodb-sessions, 0.1's index", old_index=True),
    Variant("writes every request", baseline=True),
    Variant("writes every request, 0.1's index", baseline=True, old_index=True),
)
OLD_PROJECTION = {
    "ProjectionType": "INCLUDE",
    "NonKeyAttributes": ["created", "accessed", "pinned_timeout", "expires"],
}


def small_session(seed: int) -> dict[str, Any]:
    """What most sites keep: a user id, a CSRF token and a few flags (about 150 bytes)."""
    rng = random.Random(seed)
    return {
        "user": f"user-{seed}",
        "csrf": rng.randbytes(32).hex(),
        "flags": {"beta": rng.random() < 0.5, "lang": "en", "tz": "Europe/Paris"},
        "visits": 1,
    }


DATA = {"2 KB": lambda seed: session_data(2048, seed=seed), "small": small_session}


@dataclass
class MixResult:
    variant: str
    requests: int
    calls: dict[str, int]
    rcu: float
    wcu: float
    reported: float
    agrees: bool
    index_wcu: float = 0.0  # the user index's write units (included in no other figure)

    def per_1000(self, units: float) -> float:
        return 1000 * units / self.requests if self.requests else 0.0

    @property
    def total(self) -> float:
        """Every capacity unit: reads, table writes and index writes."""
        return self.rcu + self.wcu + self.index_wcu


def _plan(users: int, ticks: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    kinds, weights = list(SHARES), list(SHARES.values())
    return [[rng.choices(kinds, weights)[0] for _ in range(users)] for _ in range(ticks)]


def _new_cookie(headers: list[tuple[str, str]], old: str) -> str:
    for name, value in headers:
        if name == "Set-Cookie" and value.startswith("session="):
            return value.split(";", 1)[0].split("=", 1)[1] or old
    return old


def _app(new_data: dict[str, Any]) -> Any:
    """The mix's WSGI app: read a key, or change one (a new visitor first signs in and stores
    ``new_data``). The library's session gets the user id; the baseline reads it from the data."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ[ENVIRON_KEY]
        body = b"ok"
        if environ["PATH_INFO"] == "/write":
            if "user" not in session:
                session.update(new_data)
                if hasattr(session, "user_id"):
                    session.user_id = new_data["user"]
            session["visits"] = session.get("visits", 0) + 1
        else:
            body = str(session.get("user")).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


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
        index_wcu=sum(r.index for r in meter.records),
    )


def _table(endpoint: str, variant: Variant) -> StoreConfig:
    if not variant.old_index:
        cfg = new_table(endpoint, "mix")
    else:
        cfg = StoreConfig(
            table=f"bench-mix-{uuid.uuid4().hex[:8]}", connection=connection(endpoint)
        )
        params = requests.create_table(cfg)
        params["GlobalSecondaryIndexes"][0]["Projection"] = OLD_PROJECTION
        cfg = cfg.replace(timeout=TIMEOUT)
        client = make_client(cfg.connection)
        client.create_table(**params)
        for _ in range(300):  # bounded: dynalite makes a table active within a second or so
            if client.describe_table(TableName=cfg.table)["Table"]["TableStatus"] == "ACTIVE":
                break
            time.sleep(0.1)
        client.close()
    return cfg.replace(consistent_read=variant.consistent_read)


def run_variant(
    endpoint: str, sizer: Any, variant: Variant, data: str, users: int, plan: list[list[str]]
) -> tuple[MixResult, int]:
    """Serve ``plan`` one way; the result and the size of a session's item at the end."""
    # Counted at botocore's client; the calls are the core's, alike on either transport.
    cfg = metered(_table(endpoint, variant))
    meter, clock = Meter(sizer), Clock()
    adapter = WSGIAdapter(cfg, meter, clock)
    make = DATA[data]
    cookies = []
    for i in range(users):
        session = Session(make(i))
        session.user_id = session["user"]
        with meter.pause():
            adapter.store.create(session)
        cookies.append(session.session_id)
    app = _app(make(1000))
    if variant.baseline:
        client = meter.attach(make_client(cfg.connection))
        served: Any = BaselineMiddleware(app, cfg, client, clock)
    else:
        served = SessionMiddleware(app, adapter.store)
    _drive(served, clock, cookies, plan)
    result = _result(variant.name, meter, len(plan) * users)
    reply = sizer.get_item(
        TableName=cfg.table, Key={"id": {"S": storage_key(cookies[0])}}, ConsistentRead=True
    )
    adapter.close()
    return result, item_size(reply["Item"]) if "Item" in reply else 0


def measure(endpoint: str, sizer: Any, users: int, minutes: int = 60) -> dict[str, Any]:
    ticks = minutes * 60 // INTERVAL
    plan = _plan(users, ticks, seed=7)
    runs: dict[str, list[MixResult]] = {}
    item_bytes: dict[str, int] = {}
    for data in DATA:
        runs[data] = []
        for variant in VARIANTS:
            result, size = run_variant(endpoint, sizer, variant, data, users, plan)
            runs[data].append(result)
            item_bytes[data] = max(item_bytes.get(data, 0), size)
    two_kb = runs["2 KB"]
    return {
        "users": users,
        "minutes": minutes,
        "requests": users * ticks,
        "item_bytes": item_bytes["2 KB"],
        "data_bytes": len(views.BIG["blob"]) + 50,
        "ours": two_kb[0],
        "baseline": two_kb[3],
        "runs": runs,
        "sizes": item_bytes,
    }


def table(runs: list[MixResult]) -> list[str]:
    """Markdown rows: per 1,000 requests, and each variant's total over the baseline on a table
    with the same index (the library's keys-only one, or 0.1's)."""
    by_name = {r.variant: r for r in runs}
    lines = [
        "| per 1,000 requests | GetItem | PutItem | UpdateItem | RCU | WCU | index WCU | total CU"
        " | vs baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        base = by_name[
            "writes every request, 0.1's index"
            if "0.1's index" in r.variant
            else "writes every request"
        ]
        lines.append(
            f"| {r.variant} | {r.per_1000(r.calls.get('GetItem', 0)):.0f} | "
            f"{r.per_1000(r.calls.get('PutItem', 0)):.0f} | "
            f"{r.per_1000(r.calls.get('UpdateItem', 0)):.0f} | {r.per_1000(r.rcu):.0f} | "
            f"{r.per_1000(r.wcu):.0f} | {r.per_1000(r.index_wcu):.0f} | {r.per_1000(r.total):.0f}"
            f" | {r.total / base.total:.2f}x |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mix", description=__doc__)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args(argv)
    with dynalite() as endpoint:
        results = measure(endpoint, sizer_client(endpoint), args.users, args.minutes)
    print(f"{results['requests']} requests per variant")
    for data, runs in results["runs"].items():
        print(f"\n{data} sessions (item {results['sizes'][data]} bytes):\n")
        print("\n".join(table(runs)))
        agree = all(r.agrees for r in runs)
        print(f"\ndynalite's reported table units agree with the computed ones: {agree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

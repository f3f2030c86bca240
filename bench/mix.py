"""Capacity units per 1,000 requests for a realistic mix, against a store that writes the whole
item on every request (the common design: the AWS SDK for PHP's session handler, and most
DynamoDB session backends for Python frameworks).

The mix: ``users`` signed-in users each make a request every 30 s for an hour (the stores'
clock is injected, so the hour passes in seconds); each request is read-only (70%), modifies
the session (20%) or comes from a new visitor who signs in as a new user and stores a session
(10%): 2 KB of data, or a small realistic one (a user id, a CSRF token, a few flags). The
modifications are run both ways (:data:`MODIFICATIONS`): keys set without a read, which the
WSGI middleware writes blind, and a read-modify-write. Every session has a user, so it is in
the user index, whose writes are counted (``Meter``). Every variant serves the same requests,
in the same order, through the same WSGI app; only the middleware, the read mode or the
index's projection differs. Each kind of request is also priced on its own (``kinds``).

    python -m bench.mix            # both sizes, both modifications, every variant
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench import views
from bench._common import (
    TIMEOUT,
    Clock,
    Meter,
    Record,
    connection,
    dynalite,
    metered,
    new_table,
    session_data,
    sizer_client,
)
from bench.adapters import FlaskAdapter, WSGIAdapter, call_wsgi
from dynamodb_sessions import Codec, Session, SessionStore, StoreConfig
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.cookies import read_cookie
from dynamodb_sessions._core.items import build_item, idle_timeout, item_size, parse_item
from dynamodb_sessions.ids import is_well_formed, new_session_id, storage_key
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from dynamodb_sessions.store import make_client

SHARES = {"read-only": 0.70, "modified": 0.20, "new": 0.10}
INTERVAL = 30  # seconds between a user's requests (``--interval``)


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
    flask: bool = False  # through the Flask adapter (with Flask's permanent recipe), not WSGI


VARIANTS = (
    Variant("dynamodb-sessions"),
    Variant("dynamodb-sessions, Flask (permanent = True before every view)", flask=True),
    Variant("dynamodb-sessions, eventually consistent reads", consistent_read=False),
    Variant("dynamodb-sessions, 0.1's index", old_index=True),
    Variant("writes every request", baseline=True),
    Variant("writes every request, 0.1's index", baseline=True, old_index=True),
)
BASELINE, OLD_BASELINE = VARIANTS[-2:]
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

MODIFICATIONS = {
    "set-only": "keys set without reading the session (the page last seen and a new CSRF"
    " token): WSGI and Flask write them blind, one UpdateItem and no read",
    "read-modify-write": "a key read, then changed (a counter incremented, as a cart's item"
    " count): one read, then the changed key saved",
}
PATHS = {"set-only": "/set", "read-modify-write": "/increment"}


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
    refused: int = 0  # writes refused by their condition (charged all the same)
    # The same figures for each kind of request (read-only, modified, new) alone.
    kinds: dict[str, MixResult] = field(default_factory=dict)

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


def _serve(session: Any, path: str, make: Any) -> bytes:
    """What the mix's app does with ``session`` at ``path``. ``/read`` reads a key;
    ``/set/<n>`` sets two keys and reads none; ``/increment/<n>`` reads a counter and stores it
    plus one; ``/login/<n>``, a new visitor's request, signs in as a new user and stores their
    session (``make(n)``). The library's session gets the user id; the baseline reads it from
    the data."""
    route, _, arg = path[1:].partition("/")
    if route == "read":
        return str(session.get("user")).encode()
    if route == "set":
        session["last_page"] = f"/page/{arg}"
        session["csrf"] = hashlib.sha256(arg.encode()).hexdigest()
    elif route == "increment":
        session["visits"] = session.get("visits", 0) + 1
    else:
        data = make(int(arg))
        session.update(data)
        if hasattr(session, "user_id"):
            session.user_id = data["user"]
    return b"ok"


def _app(make: Any) -> Any:
    """The mix's WSGI app (:func:`_serve`), for the WSGI middleware and the baseline."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = _serve(environ[ENVIRON_KEY], environ["PATH_INFO"], make)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return app


def _flask_app(store: SessionStore, make: Any) -> Any:
    """The mix's app on Flask (:func:`_serve`), with Flask's common recipe: every request sets
    ``session.permanent = True`` before its view."""
    from flask import Flask, request, session

    from dynamodb_sessions.integrations.flask import DynamoDBSessions

    app = Flask("bench_mix")
    app.config["PERMANENT_SESSION_LIFETIME"] = store.config.timeout
    DynamoDBSessions(app, store=store)

    @app.before_request
    def every_session_permanent() -> None:
        session.permanent = True

    @app.get("/<path:path>")
    def serve(path: str) -> bytes:
        return _serve(session, request.path, make)

    return app.wsgi_app


def _drive(
    app: Any,
    clock: Clock,
    meter: Meter,
    users: list[str],
    plan: list[list[str]],
    modify: str,
    interval: int,
) -> dict[str, list[Record]]:
    """Serve ``plan``, each user's requests ``interval`` s apart; the calls each kind of request
    made."""
    calls: dict[str, list[Record]] = {kind: [] for kind in SHARES}
    for number, tick in enumerate(plan):
        for index, kind in enumerate(tick):
            cookie = None if kind == "new" else users[index]
            serial = number * len(tick) + index
            if kind == "read-only":
                path = "/read"
            elif kind == "new":
                path = f"/login/{1000 + serial}"
            else:
                path = f"{PATHS[modify]}/{serial}"
            mark = meter.mark()
            status, headers = call_wsgi(app, path, f"session={cookie}" if cookie else None)
            assert status == 200, status
            calls[kind] += meter.since(mark)
            users[index] = _new_cookie(headers, users[index])
        clock.advance(interval)
    return calls


def _result(variant: str, records: list[Record], requests: int) -> MixResult:
    calls: dict[str, int] = {}
    for record in records:
        calls[record.operation] = calls.get(record.operation, 0) + 1
    return MixResult(
        variant=variant,
        requests=requests,
        calls=calls,
        rcu=sum(r.computed or 0 for r in records if r.read),
        wcu=sum(r.computed or 0 for r in records if not r.read),
        reported=sum(r.reported or 0 for r in records),
        agrees=all(r.computed == r.reported for r in records),
        index_wcu=sum(r.index for r in records),
        refused=sum(1 for r in records if not r.ok),
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
    endpoint: str,
    sizer: Any,
    variant: Variant,
    data: str,
    modify: str,
    users: int,
    plan: list[list[str]],
    interval: int = INTERVAL,
) -> tuple[MixResult, int]:
    """Serve ``plan`` one way, its modifications made as ``modify`` says (a key of
    :data:`MODIFICATIONS`); the result and the size of a session's item at the end."""
    # Counted at botocore's client; the calls are the core's, alike on either transport.
    cfg = metered(_table(endpoint, variant))
    meter, clock = Meter(sizer), Clock()
    adapter = FlaskAdapter(cfg, meter, clock) if variant.flask else WSGIAdapter(cfg, meter, clock)
    make = DATA[data]
    cookies = []
    for i in range(users):
        # As the app stores them (Flask's recipe: permanent from the first change).
        session = Session({**make(i), "_permanent": True} if variant.flask else make(i))
        session.user_id = session["user"]
        with meter.pause():
            adapter.store.create(session)
        cookies.append(session.session_id)
    if variant.baseline:
        client = meter.attach(make_client(cfg.connection))
        served: Any = BaselineMiddleware(_app(make), cfg, client, clock)
    elif variant.flask:
        served = _flask_app(adapter.store, make)
    else:
        served = SessionMiddleware(_app(make), adapter.store)
    by_kind = _drive(served, clock, meter, cookies, plan, modify, interval)
    counts = {kind: sum(row.count(kind) for row in plan) for kind in SHARES}
    result = _result(variant.name, meter.records, len(plan) * users)
    result.kinds = {kind: _result(kind, by_kind[kind], counts[kind]) for kind in SHARES}
    reply = sizer.get_item(
        TableName=cfg.table, Key={"id": {"S": storage_key(cookies[0])}}, ConsistentRead=True
    )
    adapter.close()
    return result, item_size(reply["Item"]) if "Item" in reply else 0


def measure(
    endpoint: str, sizer: Any, users: int, minutes: int = 60, interval: int = INTERVAL
) -> dict[str, Any]:
    """Every variant, for each session size and each way of modifying (``runs[data][modify]``
    is the list of results in the order of :data:`VARIANTS`)."""
    ticks = minutes * 60 // interval
    plan = _plan(users, ticks, seed=7)
    runs: dict[str, dict[str, list[MixResult]]] = {}
    item_bytes: dict[str, int] = {}
    for data in DATA:
        runs[data] = {}
        for modify in MODIFICATIONS:
            runs[data][modify] = []
            for variant in VARIANTS:
                result, size = run_variant(
                    endpoint, sizer, variant, data, modify, users, plan, interval
                )
                runs[data][modify].append(result)
                item_bytes[data] = max(item_bytes.get(data, 0), size)
    two_kb = runs["2 KB"]
    base = VARIANTS.index(BASELINE)
    return {
        "users": users,
        "minutes": minutes,
        "interval": interval,
        "requests": users * ticks,
        "item_bytes": item_bytes["2 KB"],
        "data_bytes": len(views.BIG["blob"]) + 50,
        "ours": two_kb["set-only"][0],
        "ours_read_modify_write": two_kb["read-modify-write"][0],
        "baseline": two_kb["set-only"][base],
        "runs": runs,
        "sizes": item_bytes,
    }


def _baseline_for(runs: list[MixResult], result: MixResult) -> MixResult:
    """The write-every-request run on a table with the same index as ``result``'s."""
    old = "0.1's index" in result.variant
    return next(r for r in runs if r.variant == (OLD_BASELINE if old else BASELINE).name)


def table(runs: list[MixResult]) -> list[str]:
    """Markdown rows: per 1,000 requests, and each variant's total over the baseline on a table
    with the same index (the library's keys-only one, or 0.1's)."""
    lines = [
        "| per 1,000 requests | GetItem | PutItem | UpdateItem | RCU | WCU | index WCU | total CU"
        " | vs baseline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        base = _baseline_for(runs, r)
        lines.append(
            f"| {r.variant} | {r.per_1000(r.calls.get('GetItem', 0)):.0f} | "
            f"{r.per_1000(r.calls.get('PutItem', 0)):.0f} | "
            f"{r.per_1000(r.calls.get('UpdateItem', 0)):.0f} | {r.per_1000(r.rcu):.0f} | "
            f"{r.per_1000(r.wcu):.0f} | {r.per_1000(r.index_wcu):.0f} | {r.per_1000(r.total):.0f}"
            f" | {r.total / base.total:.2f}x |"
        )
    return lines


def kinds_table(runs: list[MixResult]) -> list[str]:
    """Markdown rows: what one request of each kind costs on average, in every variant on the
    library's index (calls, then RCU + WCU + index WCU)."""
    lines = [
        "| per request | " + " | ".join(SHARES) + " |",
        "|---|" + "---|" * len(SHARES),
    ]
    for r in runs:
        if "0.1's index" in r.variant:
            continue
        cells = []
        for kind in SHARES:
            k = r.kinds[kind]
            n = max(k.requests, 1)
            ops = " + ".join(f"{_short(count / n)} {op}" for op, count in sorted(k.calls.items()))
            units = " + ".join(_short(u / n) for u in (k.rcu, k.wcu, k.index_wcu))
            cells.append(f"{ops or 'none'} ({units} CU)")
        lines.append(f"| {r.variant} | " + " | ".join(cells) + " |")
    return lines


def _short(number: float) -> str:
    """``number`` to three decimals, without trailing zeros (so a rare call still shows)."""
    return f"{number:.3f}".rstrip("0").rstrip(".")


def share_needed(rmw: float, set_only: float, target: float) -> float | None:
    """The least share of set-only modifications (0 to 1) at which a mix of the two kinds costs
    at most ``target`` times the baseline, given each pure mix's ratio (a mix's units are the
    two pure mixes' units weighted by the shares); ``None`` if even all set-only misses it."""
    if rmw <= target:
        return 0.0
    if set_only > target:
        return None
    return (rmw - target) / (rmw - set_only)


TARGETS = {"dynamodb-sessions": 0.45, "dynamodb-sessions, eventually consistent reads": 0.36}


def targets(runs: dict[str, list[MixResult]]) -> list[str]:
    """One line per target of issue 15: each pure mix's ratio, and the share of set-only
    modifications the target needs."""
    lines = []
    for name, target in TARGETS.items():
        ratios = {}
        for modify, results in runs.items():
            ours = next(r for r in results if r.variant == name)
            ratios[modify] = ours.total / _baseline_for(results, ours).total
        needed = share_needed(ratios["read-modify-write"], ratios["set-only"], target)
        if needed is None:
            verdict = "not met even if every modification is set-only"
        elif needed == 0:
            verdict = "met whatever the share of each kind"
        else:
            verdict = f"met once at least {needed:.0%} of modifications are set-only"
        lines.append(
            f"- {name}: {ratios['set-only']:.2f}x with set-only modifications, "
            f"{ratios['read-modify-write']:.2f}x with read-modify-write ones; target <= "
            f"{target}x: {verdict}."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mix", description=__doc__)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument(
        "--interval", type=int, default=INTERVAL, help="seconds between a user's requests"
    )
    args = parser.parse_args(argv)
    with dynalite() as endpoint:
        sizer = sizer_client(endpoint)
        results = measure(endpoint, sizer, args.users, args.minutes, args.interval)
    print(f"{results['requests']} requests per variant")
    for data, by_modify in results["runs"].items():
        for modify, runs in by_modify.items():
            print(f"\n{data} sessions (item {results['sizes'][data]} bytes), {modify}:\n")
            print("\n".join(table(runs)))
            print()
            print("\n".join(kinds_table(runs)))
            agree = all(r.agrees for r in runs)
            print(f"\ndynalite's reported table units agree with the computed ones: {agree}")
            print(f"writes refused by their condition: {sum(r.refused for r in runs)}")
        print()
        print("\n".join(targets(by_modify)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

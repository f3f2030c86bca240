"""What every measurement shares: the dynalite process, tables, a settable clock, session data
of a known size, and the meter that counts DynamoDB calls and capacity units at the client.

Two kinds of run, kept apart:

* **metered** (calls and capacity per request: bench/calls.py, bench/mix.py): the
  :class:`Meter` counts at botocore's client through its event hooks, so a metered store
  carries every call on botocore (``metered(cfg)``, ``transport="botocore"``): what a request
  calls and consumes is the core's decision, the same on either transport
  (tests/store/test_lean_transport.py proves the requests equal);
* **timed** (CPU, requests per second): the library's default transport, and no hooks
  (:class:`Unmetered`), so a timing is what a user's application pays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynamodb_sessions import Connection, SessionStore, StoreConfig
from dynamodb_sessions._core.items import item_size
from dynamodb_sessions.config import TRANSPORT_ENV
from dynamodb_sessions.exceptions import ConfigurationError
from dynamodb_sessions.local import LOCAL_CREDENTIALS, dynalite_engine
from dynamodb_sessions.store import make_client

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 3600  # the session (idle) timeout used throughout: one hour


# -- dynalite -------------------------------------------------------------------------------


@contextmanager
def dynalite() -> Iterator[str]:
    """One dynalite process on 127.0.0.1 and a free port for the whole run; yields its URL."""
    cli = Path(os.environ.get("DYNALITE_CLI", ROOT / ".tools/node_modules/dynalite/cli.js"))
    try:
        with dynalite_engine(cli) as endpoint:
            yield endpoint
    except ConfigurationError as exc:
        raise SystemExit(f"{exc} (run ./scripts/test once)") from None


def dynalite_version() -> str:
    import json

    package = ROOT / ".tools/node_modules/dynalite/package.json"
    try:
        return str(json.loads(package.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def connection(endpoint: str) -> Connection:
    """The local engine's connection, on the transport ``AWS_DYNAMODB_SESSION_TRANSPORT``
    chooses, as an application's would (unset: the library's default)."""
    chosen = os.environ.get(TRANSPORT_ENV, "").strip()
    return Connection(
        endpoint_url=endpoint,
        **LOCAL_CREDENTIALS,  # type: ignore[arg-type]
        **({"transport": chosen} if chosen else {}),
    )


def metered(cfg: StoreConfig) -> StoreConfig:
    """``cfg`` on botocore's client, where the :class:`Meter` counts (see the module's doc)."""
    return cfg.replace(connection=dataclasses.replace(cfg.connection, transport="botocore"))


def new_table(endpoint: str, name: str, **config: Any) -> StoreConfig:
    """A fresh session table of its own (the library's create-table: key, user index)."""
    cfg = StoreConfig(
        table=f"bench-{name}-{uuid.uuid4().hex[:8]}",
        connection=connection(endpoint),
        timeout=config.pop("timeout", TIMEOUT),
        **config,
    )
    with SessionStore(cfg) as store:
        report = store.create_table(wait_seconds=30)
    if not report.exists:
        raise RuntimeError(f"could not create {cfg.table}: {report}")
    return cfg


def drop_table(cfg: StoreConfig) -> None:
    with SessionStore(cfg) as store:
        store.client.delete_table(TableName=cfg.table)


class Clock:
    """A settable clock (epoch seconds), injected into the stores."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def session_data(size: int = 2048, seed: int = 0) -> dict[str, Any]:
    """Session data whose JSON is about ``size`` bytes, in random (incompressible) text, so the
    stored item really is that big whatever the codec's compression does."""
    import random
    import string

    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    data: dict[str, Any] = {"user": f"user-{seed}", "visits": 1, "cart": [1, 2, 3]}
    fixed = len('{"user": "user-0", "visits": 1, "cart": [1, 2, 3], "blob": ""}')
    data["blob"] = "".join(rng.choice(alphabet) for _ in range(max(0, size - fixed)))
    return data


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the meter ------------------------------------------------------------------------------

READS = {"GetItem", "Query", "Scan", "BatchGetItem"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
CONSUMED = READS | WRITES | {"BatchWriteItem"}


def rcu(size: int | None, consistent: bool) -> float:
    """Read units of one item read: ceil(size / 4 KB), at least 1 (also for a missing item);
    half for an eventually consistent read."""
    units = max(1, math.ceil((size or 0) / 4096))
    return units if consistent else units / 2


def wcu(size: int | None) -> float:
    """Write units of one item write: ceil(size / 1 KB), at least 1."""
    return max(1, math.ceil((size or 0) / 1024))


def index_wcu(
    before: dict[str, Any] | None, after: dict[str, Any] | None, index: dict[str, Any]
) -> float:
    """Write units a write costs a global secondary index ``index`` (its description), by
    DynamoDB's rules: an item entering or leaving the index is one write of its entry, a changed
    index key two (delete and put), a change of a projected attribute one, anything else none.
    An entry holds the index key, the table key and the projected attributes."""
    key = index["KeySchema"][0]["AttributeName"]
    projection = index.get("Projection", {})

    def entry(item: dict[str, Any] | None) -> dict[str, Any] | None:
        if item is None or key not in item:
            return None
        if projection.get("ProjectionType") == "ALL":
            return item
        kept = {key, "id", *projection.get("NonKeyAttributes", [])}
        return {name: value for name, value in item.items() if name in kept}

    old, new = entry(before), entry(after)
    if old is None and new is None:
        return 0.0
    if old is None or new is None:
        return wcu(item_size(new if old is None else old))  # type: ignore[arg-type]
    if old[key] != new[key]:
        return wcu(item_size(old)) + wcu(item_size(new))
    return 0.0 if old == new else wcu(item_size(new))


@dataclass
class Record:
    """One DynamoDB call as the client sent it."""

    operation: str
    ok: bool
    computed: float | None  # capacity units from the item sizes by DynamoDB's rules
    reported: float | None  # what dynalite returned for ReturnConsumedCapacity=TOTAL
    read: bool
    index: float = 0.0  # write units of the table's global secondary indexes (computed)


@dataclass
class Meter:
    """Counts a client's calls and their capacity units.

    Hooks on the client: ``provide-client-params`` adds ``ReturnConsumedCapacity=TOTAL`` and,
    for a write, reads the item's size before it (through a separate, unmetered client);
    ``after-call`` reads the size after it and prices the call by DynamoDB's rules:
    GetItem ceil(size/4 KB) RCU (1 for a missing item; half if eventually consistent);
    PutItem/UpdateItem/DeleteItem ceil(max(before, after)/1 KB) WCU, also when the condition
    failed, plus what the write costs each global secondary index (:func:`index_wcu`, from the
    item before and after; dynalite reports none of it). Scan is priced only by what dynalite
    reports (its cost depends on the items it read before the filter, which the client never
    sees).
    """

    sizer: Any
    records: list[Record] = field(default_factory=list)
    paused: bool = False
    _indexes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def attach_store(self, store: Any) -> None:
        """Count ``store``'s calls: at its botocore client, so it must carry them all
        (``transport="botocore"``: :func:`metered`); a lean store would count nothing."""
        if store.transport is not None:
            raise ConfigurationError(
                "a metered store counts at botocore's client: configure it with metered(cfg)"
            )
        self.attach(store.client)

    def attach(self, client: Any) -> Any:
        """Count the calls of a botocore ``client``."""
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)
        return client

    def mark(self) -> int:
        return len(self.records)

    def since(self, mark: int) -> list[Record]:
        return self.records[mark:]

    @contextmanager
    def pause(self) -> Iterator[None]:
        paused, self.paused = self.paused, True
        try:
            yield
        finally:
            self.paused = paused

    def _item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.sizer.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return item

    def _table_indexes(self, table: str) -> list[dict[str, Any]]:
        if table not in self._indexes:
            described = self.sizer.describe_table(TableName=table)["Table"]
            self._indexes[table] = described.get("GlobalSecondaryIndexes", [])
        return self._indexes[table]

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if self.paused or model.name not in CONSUMED:
            return
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["bench_params"] = dict(params)
        if model.name in WRITES:
            key = params.get("Key") or {"id": params["Item"]["id"]}
            context["bench_before"] = self._item(params["TableName"], key)

    def _after(
        self,
        http_response: Any,
        parsed: dict[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        params = context.get("bench_params")
        if self.paused or params is None:
            return
        name = model.name
        ok = http_response.status_code < 300
        consumed = parsed.get("ConsumedCapacity")
        if isinstance(consumed, list):
            reported = sum(c.get("CapacityUnits", 0) for c in consumed) if consumed else None
        else:
            reported = consumed.get("CapacityUnits") if consumed else None
        computed: float | None = None
        index = 0.0
        if name == "GetItem":
            item = parsed.get("Item")
            computed = rcu(item_size(item) if item else None, bool(params.get("ConsistentRead")))
        elif name in WRITES:
            before = context.get("bench_before")
            after = before  # a failed write changes nothing
            if ok:
                if name == "PutItem":
                    after = params["Item"]
                elif name == "UpdateItem":
                    after = self._item(params["TableName"], params["Key"])
                else:
                    after = None
            sizes = [item_size(i) for i in (before, after) if i is not None]
            computed = wcu(max(sizes, default=0))
            for gsi in self._table_indexes(params["TableName"]):
                index += index_wcu(before, after, gsi)
        elif name == "BatchWriteItem":
            computed = 0.0
            for requests in params["RequestItems"].values():
                for request in requests:
                    put = request.get("PutRequest")
                    computed += wcu(item_size(put["Item"]) if put else None)
        self.records.append(Record(name, ok, computed, reported, name in READS, index))


class Unmetered:
    """In place of a :class:`Meter` in a timed run: nothing is counted and no hook is put on
    a client, so its calls cost what they cost without the benchmark, on any transport."""

    def attach_store(self, store: Any) -> None:
        pass

    def attach(self, client: Any) -> Any:
        return client

    def pause(self) -> Any:
        return contextlib.nullcontext()


def sizer_client(endpoint: str) -> Any:
    return make_client(connection(endpoint))

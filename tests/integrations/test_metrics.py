"""Metrics (issue 16, item 3): a known sequence of requests through the WSGI middleware and
werkzeug's test client, against dynalite, counted by a plain recording hook and by
OpenTelemetry's SDK (its in-memory reader). Both must see exactly the calls by operation and
outcome, botocore's retries, the capacity DynamoDB reported, the conflicts, the lock waits, the
GC deletes and the 503s the sequence makes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from werkzeug.test import Client

from dynamodb_sessions import SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from dynamodb_sessions.metrics import Metrics, OpenTelemetryMetrics, default_metrics
from faults.proxy import FaultProxy, failing_fast_through, operation_of, through

pytestmark = pytest.mark.engines(
    "dynalite", reason="the counts are the library's; dynalite reports capacity as DynamoDB does"
)

Totals = Counter[tuple[Any, ...]]


class Recorder(Metrics):
    """A plain hook: adds every event to ``totals``, keyed as :func:`otel_totals` keys them."""

    capacity = True

    def __init__(self) -> None:
        self.totals: Totals = Counter()

    def call(self, operation, outcome, *, retries, seconds, capacity):
        assert seconds >= 0
        self.totals["calls", operation, outcome] += 1
        self.totals["retries", operation] += retries
        self.totals["capacity", operation] += capacity or 0

    def conflict(self, *, retried):
        self.totals["conflicts", retried] += 1

    def lock_wait(self, seconds, *, outcome):
        assert seconds >= 0
        self.totals["lock.wait", outcome] += 1

    def gc(self, *, deleted, kept):
        self.totals["gc.deleted",] += deleted
        self.totals["gc.kept",] += kept

    def unavailable(self, adapter, *, error):
        self.totals["unavailable", adapter, error] += 1


def app(store: SessionStore):
    """``/set?k=v`` stores ``k``; ``/get`` reads; ``/raced-clear`` clears the session and sets
    ``c`` after another request (the store, directly) changed it: a whole-session write that
    meets a conflict, re-reads and retries."""

    def view(environ, start_response):
        session = environ[ENVIRON_KEY]
        path, query = environ["PATH_INFO"], environ["QUERY_STRING"]
        if path == "/set":
            key, _, value = query.partition("=")
            session[key] = value
        elif path == "/raced-clear":
            session.get("a")  # loaded now (GetItem)
            other = store.load(session.session_id)  # another request: GetItem...
            other["z"] = "9"
            store.save(other)  # ...and UpdateItem, raising the version
            session.clear()
            session["c"] = "3"
        else:
            dict(session)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return Client(SessionMiddleware(view, store), use_cookies=False)


def cookie_of(response) -> str:
    (header,) = response.headers.getlist("Set-Cookie")
    return header.split(";")[0]


def scenario(engine, config, clock, metrics: Metrics) -> None:
    """The known sequence; see :data:`EXPECTED` for what it must count."""
    store = SessionStore(config, clock=clock, metrics=metrics)
    web = app(store)
    cookie = cookie_of(web.get("/set?a=1"))  # PutItem
    web.get("/get", headers={"Cookie": cookie})  # GetItem
    web.get("/set?b=2", headers={"Cookie": cookie})  # UpdateItem alone (sets, never reads)
    assert web.get("/raced-clear", headers={"Cookie": cookie}).status_code == 200

    # Lock mode: a session another request holds, and a lock wait of 0: one try (UpdateItem,
    # refused), one read (held, valid), then 503. Released, the next request gets it at once.
    locking = SessionStore(
        config.replace(lock=LockSettings(lease=60, wait=0.0)), clock=clock, metrics=metrics
    )
    held = locking.load(cookie.partition("=")[2])  # UpdateItem (acquired)
    locked_web = app(locking)
    response = locked_web.get("/get", headers={"Cookie": cookie})
    assert response.status_code == 503 and "Set-Cookie" not in response.headers
    locking.release(held)  # UpdateItem
    assert locked_web.get("/get", headers={"Cookie": cookie}).status_code == 200  # 2 UpdateItem

    # GC: two more sessions, then all three expire: one Scan, three DeleteItems.
    web.get("/set?a=1")
    web.get("/set?a=1")  # two PutItems
    clock.advance(config.timeout + 1)
    assert store.gc(segments=1).deleted == 3

    # An outage: throttled past botocore's 2 attempts: one GetItem, one retry, one 503.
    with FaultProxy(engine.endpoint) as proxy:
        through = SessionStore(failing_fast_through(config, proxy), clock=clock, metrics=metrics)
        cookie = cookie_of(app(through).get("/set?a=1"))  # PutItem
        proxy.rule("throttle")
        response = app(through).get("/get", headers={"Cookie": cookie})
        assert response.status_code == 503
        through.close()
    locking.close()
    store.close()


THROTTLED = "ProvisionedThroughputExceededException"
REFUSED = "ConditionalCheckFailedException"
EXPECTED: Totals = Counter(
    {
        # the first /set, the two sessions for GC, the one through the proxy
        ("calls", "PutItem", "ok"): 4,
        # /get, /raced-clear (its load, the other request's, the re-read after the conflict),
        # the lock's read of the held item; /set?b=2 only sets keys, so it reads nothing
        ("calls", "GetItem", "ok"): 5,
        ("calls", "GetItem", THROTTLED): 1,
        # /set's update, the other request's, /raced-clear's retried write; the lock: the
        # direct acquire, its release, the next request's acquire and release
        ("calls", "UpdateItem", "ok"): 7,
        ("calls", "UpdateItem", REFUSED): 2,  # /raced-clear's first write; the held lock
        ("calls", "Scan", "ok"): 1,
        ("calls", "DeleteItem", "ok"): 3,
        ("retries", "GetItem"): 1,
        ("conflicts", True): 1,
        ("lock.wait", "acquired"): 2,
        ("lock.wait", "timeout"): 1,
        ("gc.deleted",): 3,
        ("unavailable", "WSGI", "SessionLockError"): 1,
        ("unavailable", "WSGI", "BackendUnavailableError"): 1,
    }
)
# Every item here is under 1 KB: 1 unit per write, 1 per strongly consistent read, 0.5 per
# eventually consistent Scan page. A write refused by its condition consumes a write unit
# too, but DynamoDB's error answer does not report it.
CAPACITY = {"PutItem": 4.0, "GetItem": 5.0, "UpdateItem": 7.0, "Scan": 0.5, "DeleteItem": 3.0}


def expected() -> Totals:
    totals = Counter(EXPECTED)
    for operation, units in CAPACITY.items():
        totals["capacity", operation] = units
    return totals


def counted(totals: Totals) -> Totals:
    return Counter({key: value for key, value in totals.items() if value})


@pytest.mark.transports  # the same counts, retries included, on either
def test_a_recording_hook_counts_the_sequence(engine, config, clock):
    recorder = Recorder()
    scenario(engine, config, clock, recorder)
    assert counted(recorder.totals) == counted(expected())


def otel_totals(reader) -> Totals:
    """The reader's points, keyed as :class:`Recorder` keys its events: counters by their sum,
    histograms by their count."""
    totals: Totals = Counter()
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "dynamodb_sessions"
            for metric in scope.metrics:
                name = metric.name.removeprefix("dynamodb_sessions.")
                for point in metric.data.data_points:
                    attrs = dict(point.attributes)
                    if name == "calls":
                        key: tuple[Any, ...] = ("calls", attrs["operation"], attrs["outcome"])
                    elif name in ("call.retries", "capacity"):
                        key = (name.removeprefix("call."), attrs["operation"])
                    elif name == "conflicts":
                        key = ("conflicts", attrs["retried"])
                    elif name == "lock.wait":
                        key = ("lock.wait", attrs["outcome"])
                    elif name == "unavailable":
                        key = ("unavailable", attrs["adapter"], attrs["error"])
                    elif name == "call.duration":
                        key = ("duration", attrs["operation"], attrs["outcome"])
                    else:
                        key = (name,)
                    value = point.count if hasattr(point, "bucket_counts") else point.value
                    totals[key] += value
    return totals


@pytest.mark.transports  # the same counts, retries included, on either
def test_opentelemetry_counts_the_same_sequence(engine, config, clock):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        scenario(engine, config, clock, OpenTelemetryMetrics(meter_provider=provider))
        totals = otel_totals(reader)
    finally:
        provider.shutdown()
    durations = Counter(
        {("calls", *key[1:]): n for key, n in totals.items() if key[0] == "duration"}
    )
    calls = Counter({key: n for key, n in totals.items() if key[0] == "calls"})
    assert durations == calls  # one duration per call
    others = Counter({key: n for key, n in totals.items() if key[0] != "duration"})
    assert counted(others) == counted(expected())


def test_the_default_hook_is_opentelemetry_when_installed_and_a_no_op_otherwise(
    config, monkeypatch
):
    assert isinstance(SessionStore(config).metrics, OpenTelemetryMetrics)
    import builtins

    real_import = builtins.__import__

    def without_opentelemetry(name, *args, **kwargs):
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_opentelemetry)
    plain = SessionStore(config).metrics
    assert type(plain) is Metrics and plain.capacity is False


def requests_seen(proxy: FaultProxy) -> list[tuple[str, dict[str, Any]]]:
    """Every request ``proxy`` relays from now on, as sent: (operation, its JSON body)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(request: bytes, answer: bytes) -> bytes:
        seen.append((operation_of(request), json.loads(request.partition(b"\r\n\r\n")[2])))
        return answer

    proxy.rewrite = record
    return seen


@pytest.mark.transports
def test_capacity_is_asked_for_only_when_a_provider_records(engine, config, clock):
    """OpenTelemetry's API alone (its default proxy provider, or its no-op one) records
    nothing, so the store sends the core's exact requests; a recording provider (the SDK's)
    gets ``ReturnConsumedCapacity`` on every data call, and the units it reports."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    recording = MeterProvider(metric_readers=[reader])
    hooks = [
        (default_metrics(), False),  # no provider set in this process: the API's proxy
        (OpenTelemetryMetrics(meter_provider=NoOpMeterProvider()), False),
        (OpenTelemetryMetrics(meter_provider=recording), True),
    ]
    try:
        with FaultProxy(engine.endpoint) as proxy:
            sent = requests_seen(proxy)
            for metrics, asks in hooks:
                assert isinstance(metrics, OpenTelemetryMetrics)
                del sent[:]
                with SessionStore(through(config, proxy), clock=clock, metrics=metrics) as store:
                    session = store.load(None)
                    session["a"] = 1
                    store.finish(session)  # PutItem
                    assert store.load(session.session_id) == {"a": 1}  # GetItem
                assert [operation for operation, _ in sent] == ["PutItem", "GetItem"]
                assert [body.get("ReturnConsumedCapacity") for _, body in sent] == (
                    ["TOTAL"] * 2 if asks else [None] * 2
                )
        totals = otel_totals(reader)
    finally:
        recording.shutdown()
    assert totals["capacity", "PutItem"] == totals["capacity", "GetItem"] == 1.0


GLOBAL_PROVIDER_SET_LATER = """
import sys
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from dynamodb_sessions import Connection, SessionStore, StoreConfig

store = SessionStore(StoreConfig(table=sys.argv[1], connection=Connection(
    endpoint_url=sys.argv[2], region="us-east-1", access_key="local", secret_key="local")))
store.exists("0" * 43)  # before the application set its provider up: no capacity asked
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
store.exists("0" * 43)  # from now on, the capacity
points = [
    point.value
    for resource in reader.get_metrics_data().resource_metrics
    for scope in resource.scope_metrics
    for metric in scope.metrics if metric.name == "dynamodb_sessions.capacity"
    for point in metric.data.data_points
]
print(sum(points))
"""


@pytest.mark.engines("dynalite", reason="a process of its own: one engine says it")
def test_a_global_provider_set_after_the_store_was_made_gets_the_capacity(engine, config):
    """The usual order in an application: the store is made at import, OpenTelemetry is set
    up later (a global provider can be set once per process: so a process of its own)."""
    with FaultProxy(engine.endpoint) as proxy:
        sent = requests_seen(proxy)
        done = subprocess.run(
            [sys.executable, "-c", GLOBAL_PROVIDER_SET_LATER, config.table, proxy.endpoint],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [body.get("ReturnConsumedCapacity") for _, body in sent] == [None, "TOTAL"]
    assert float(done.stdout.strip()) == 1.0  # the one read the provider saw

"""Throughput against the libraries users would pick instead, same endpoints, same engine, same
run: Flask with Flask-Session 0.8 (its DynamoDB backend) and Django with dj-dynamodb-sessions
0.8.3, each against this library's adapter for the same framework.

Every variant runs in a worker process of its own (a framework's settings are per process, and
dj-dynamodb-sessions' top-level package is also called ``dynamodb_sessions``), built once and
kept warm; the parent asks one worker at a time to time ``n`` requests of an endpoint, the order
of the variants rotating between rounds, so the variants share the machine's load alike. A
"before" variant is this library from another source tree (``--baseline-src``, e.g. main's
``src``), run the same way, for before/after figures in the same run.

Endpoints (every request carries the cookie of a stored 2 KB session, made by a first
``/write`` without one): ``/read`` reads a key, ``/write`` increments a key, ``/unused`` never
looks at the session. In-process WSGI calls (no HTTP server), one request at a time.

dj-dynamodb-sessions cannot share a virtualenv with this library (its package would shadow
ours), so it is loaded from its own folder, by file path, under another module name::

    .venv/bin/python -m pip install --no-deps --target .tools/peers dj-dynamodb-sessions==0.8.3

Flask-Session comes with ``pip install --group bench``. A peer that is not installed is left
out (the table says so). This comparison alone: ``python -m bench.peers [--rtts 0,5]
[--baseline-src DIR]``. This library's variants use the transport the environment chooses
(``AWS_DYNAMODB_SESSION_TRANSPORT``; unset, the library's default), as an application's would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._common import ROOT, median
from bench.latency import latency_proxy

PATHS = {"read-only": "/read", "modified": "/write", "unused": "/unused"}
PEERS = {"Flask": "Flask-Session 0.8", "Django": "dj-dynamodb-sessions 0.8.3"}
PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", ROOT / ".tools/peers"))
DJ_BACKEND = PEERS_DIR / "dynamodb_sessions/backends/dynamodb.py"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class PeerRow:
    framework: str
    rtt_ms: float
    kind: str
    peer: str
    rps: dict[str, float]  # variant ("ours", "peer", "before") -> median requests per second
    cpu_us: dict[str, float]  # variant -> median CPU time of the worker process per request
    calls: dict[str, list[str]]  # variant -> the DynamoDB operations of one such request
    ratio: float | None  # ours / peer, requests per second: the median of per-round ratios
    ratios: list[float] = field(default_factory=list)
    before_ratio: float | None = None  # ours / before, likewise


def installed(framework: str) -> bool:
    """Whether the framework's peer library can be run here."""
    if framework == "Flask":
        return importlib.util.find_spec("flask_session") is not None
    return DJ_BACKEND.is_file()


def scaled(n: int, rtt_ms: float) -> int:
    """Fewer requests per timing when every call waits on a modelled network."""
    return max(2, round(n * 4 / (4 + 2 * rtt_ms)))


def measure(
    endpoint: str,
    rounds: int,
    n: int,
    rtts: list[float],
    baseline_src: str | None = None,
    frameworks: tuple[str, ...] = ("Flask", "Django"),
) -> list[PeerRow]:
    """Per framework and modelled round trip (0: dynalite direct), ``rounds`` rounds of ``n``
    requests (fewer at a modelled latency) per endpoint and variant."""
    rows = []
    for rtt in rtts:
        with latency_proxy(endpoint, rtt) as target:
            for framework in frameworks:
                variants = ["ours"] + (["peer"] if installed(framework) else [])
                if baseline_src:
                    variants.append("before")
                rows += _compare(
                    framework, target, rtt, variants, rounds, scaled(n, rtt), baseline_src
                )
    return rows


def _compare(
    framework: str,
    endpoint: str,
    rtt: float,
    variants: list[str],
    rounds: int,
    n: int,
    baseline_src: str | None,
) -> list[PeerRow]:
    with contextlib.ExitStack() as stack:
        workers = {
            v: stack.enter_context(_Worker(framework, v, endpoint, baseline_src)) for v in variants
        }
        for worker in workers.values():
            for path in PATHS.values():
                worker.time(path, max(1, n // 5))  # warm up
        times: dict[str, dict[str, list[float]]] = {k: {v: [] for v in variants} for k in PATHS}
        cpu: dict[str, dict[str, list[float]]] = {k: {v: [] for v in variants} for k in PATHS}
        for round_ in range(rounds):
            for kind, path in PATHS.items():
                shift = round_ % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    wall, used = workers[variant].time(path, n)
                    times[kind][variant].append(wall)
                    cpu[kind][variant].append(1e6 * used / n)
        rows = []
        for kind in PATHS:
            t = times[kind]

            def ratio(of: str, to: str, t: dict[str, list[float]] = t) -> list[float]:
                return [b / a for a, b in zip(t[of], t[to], strict=True)] if to in t else []

            ratios = ratio("ours", "peer")
            before = ratio("ours", "before")
            rows.append(
                PeerRow(
                    framework=framework,
                    rtt_ms=rtt,
                    kind=kind,
                    peer=PEERS[framework],
                    rps={v: n / median(t[v]) for v in variants},
                    cpu_us={v: median(cpu[kind][v]) for v in variants},
                    calls={v: workers[v].calls[PATHS[kind]] for v in variants},
                    ratio=median(ratios) if ratios else None,
                    ratios=ratios,
                    before_ratio=median(before) if before else None,
                )
            )
        return rows


GOALS = {("Flask", "read-only"): 2.0, ("Flask", "modified"): 1.3}  # ours / peer, direct
DJANGO_GOAL = 1.2


def goal(row: PeerRow) -> float | None:
    """The issue's target ratio for a row (on dynalite direct only), if it has one."""
    if row.rtt_ms or row.kind == "unused":
        return None
    return GOALS.get((row.framework, row.kind), DJANGO_GOAL)


def _latency(rtt: float) -> str:
    return "direct" if not rtt else f"+{rtt:g} ms"


def report_lines(rows: list[PeerRow], sizes: dict[str, Any]) -> list[str]:
    """The section of docs/benchmarks.md on the peers."""
    has_before = any(r.before_ratio is not None for r in rows)
    lines = [
        "## 7. Against the peers, direct and at a modelled latency",
        "",
        "`bench/peers.py`: the same three endpoints (read a key, increment a key, never touch the",
        "session; every request carries the cookie of a stored 2 KB session) through Flask with",
        "this library and with Flask-Session 0.8 (its DynamoDB backend, defaults: a permanent",
        "session refreshed on every request), and through Django with this library and with",
        "dj-dynamodb-sessions 0.8.3. Each variant is an app in a worker process of its own, kept",
        "warm; one worker at a time times "
        f"{sizes['n']} in-process requests (fewer at a modelled latency), the order of the",
        "variants rotating between rounds; a ratio is the median over "
        f"{sizes['rounds']} rounds of the per-round",
        "ratio of requests per second (ours / peer: above 1, this library is faster). *CPU* is",
        "the worker process's own CPU time per request (the DynamoDB client or transport, the",
        "framework and the session library; not the engine's), the figure least moved by the",
        "machine's load.",
        "*direct* is dynalite itself; *+5 ms* and *+20 ms* put the latency proxy of",
        "`bench/latency.py` in front of it, which holds every call for that long (per call, on",
        "keep-alive connections too), the range of DynamoDB in-region.",
    ]
    if has_before:
        lines += [
            "*before* is this library as it was before this work (the `--baseline-src` tree,",
            "on botocore's client as it was then by default), in the same run: the before/after",
            "of the cuts below.",
        ]
    head = "| framework | request | latency | calls (ours / peer) | ours | peer | ours / peer |"
    rule = "|---|---|---|---|---|---|---|"
    if has_before:
        head += " before | ours / before |"
        rule += "---|---|"
    head += " CPU per request (ours / peer" + (" / before" if has_before else "") + ") |"
    rule += "---|"
    lines += ["", head, rule]
    for r in rows:
        calls = " / ".join("+".join(r.calls[v]) or "none" for v in ("ours", "peer") if v in r.calls)
        ratio = "-" if r.ratio is None else f"**{r.ratio:.2f}x**"
        target = goal(r)
        if target is not None and r.ratio is not None:
            ratio += f" (goal {target:g}x: {'met' if r.ratio >= target else 'NOT met'})"
        peer = f"{r.rps['peer']:.0f} req/s" if "peer" in r.rps else "not installed"
        cells = [
            r.framework,
            r.kind,
            _latency(r.rtt_ms),
            calls,
            f"{r.rps['ours']:.0f} req/s",
            peer,
            ratio,
        ]
        if has_before:
            before = r.rps.get("before")
            cells += [
                f"{before:.0f} req/s" if before else "-",
                f"{r.before_ratio:.2f}x" if r.before_ratio else "-",
            ]
        cells.append(
            " / ".join(f"{r.cpu_us[v]:.0f} us" for v in ("ours", "peer", "before") if v in r.cpu_us)
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per-round ratios (ours / peer): "
        + "; ".join(
            f"{r.framework} {r.kind} {_latency(r.rtt_ms)}: "
            + ", ".join(f"{x:.2f}" for x in r.ratios)
            for r in rows
            if r.ratios
        )
        + ".",
        "",
        *WHERE_TEXT,
        *_goals(rows),
    ]
    return lines


# What bench.where showed; regenerate with the commands it names (a profile is not part of
# the run: the profiler's own cost distorts the timings around it).
WHERE_TEXT = [
    "**Where a request's CPU goes.** Before this work (the *before* column: botocore's client",
    "for every call), `python -m bench.where Flask ours /read` (cProfile, own time summed by",
    "package) put this library's own code at 3-4% of a read-only request, the framework at",
    "4-8%, botocore's Python (serialising, validating, resolving the endpoint, signing,",
    "hooks, parsing) at a fifth to a quarter, and urllib3, http.client and the `email`",
    "header parser at about a tenth; Flask-Session's and dj-dynamodb-sessions' own code is",
    "about 1% of theirs, plus boto3's resource layer (about 2%). So the cuts went where the",
    "CPU was:",
    "",
    "- **The transport** (issue 17, section 10): the item operations go out through the",
    "  library's lean transport by default, which speaks HTTP/1.1 itself and signs and parses",
    "  with the standard library: about a fifth of botocore's client CPU per call.",
    "- **The session layer**, measured with `python -m bench.replay --baseline-src <before>`",
    "  (a request through the Flask or Django adapter with DynamoDB's answers replayed at the",
    "  transport's HTTP exchange, so everything above the socket runs; 41 alternating rounds",
    "  of 100): Flask's modified request went from 444 to 372 us of CPU, Django's from 459 to",
    "  384 us, the read-only ones by 6-7%. A save no longer decodes every stored value again",
    "  to find what changed (a value the load decoded and the session still holds, of a type",
    "  nothing changes in place, is reused); the size guard of an update builds the item only",
    "  when a cheap upper bound reaches the limit; a deferred session draws no random id it",
    "  would never show; the Flask adapter reads its cookie settings and the response headers",
    "  only when it needs them.",
    "- **botocore's `User-Agent`**, rebuilt twice per call from a dozen sanitised parts: the",
    "  stores' botocore clients (the escape hatch, and the table operations) send a fixed one",
    "  (`store.user_agent()`); `python -m bench.useragent` measured about 8% of a call.",
    "",
    "**Weighed and left.** botocore's parameter validation stays on for the botocore",
    "transport (it refuses a `user_id` of the wrong type before anything is sent, a tested",
    "behaviour); the lean transport checks the types itself (`wire.well_typed`) and calls",
    "botocore's validator only to word the error of a request it would refuse.",
    "",
]


def _goals(rows: list[PeerRow]) -> list[str]:
    checked = [(r, goal(r)) for r in rows if goal(r) is not None and r.ratio is not None]
    if not checked:
        return []
    met = [f"{r.framework} {r.kind} ({r.ratio:.2f}x >= {g:g}x)" for r, g in checked if r.ratio >= g]  # type: ignore[operator]
    missed = [
        f"{r.framework} {r.kind} ({r.ratio:.2f}x < {g:g}x)" for r, g in checked if r.ratio < g
    ]  # type: ignore[operator]
    lines = [
        "**The goals on dynalite direct.** By CPU per request (peer / ours, the steadier",
        "figure): "
        + "; ".join(
            f"{r.framework} {r.kind} {r.cpu_us['peer'] / r.cpu_us['ours']:.2f}x"
            for r, _ in checked
            if "peer" in r.cpu_us
        )
        + ". By requests per second, the goals' measure:",
    ]
    if met:
        lines.append("Met: " + "; ".join(met) + ".")
    if missed:
        lines += [
            "Not met: " + "; ".join(missed) + ".",
            "Where this library and the peer make the same calls, the two requests differ in",
            "the session layer and the transport (see above). At a modelled latency the ratios",
            "move towards the ratio of the calls made, as they will against DynamoDB.",
        ]
    lines += [
        "On a machine this loaded (see the load average above) a per-round ratio moves by a",
        "factor of two between rounds; a goal met or missed by a few percent is within that.",
    ]
    return [*lines, ""]


class _Worker:
    """One variant's app in a process of its own, timing requests when asked."""

    def __init__(self, framework: str, variant: str, endpoint: str, src: str | None) -> None:
        source = src if variant == "before" and src else str(ROOT / "src")
        env = {**os.environ, **CREDENTIALS, "PYTHONPATH": os.pathsep.join([source, str(ROOT)])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.peers", framework, variant, endpoint],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.calls: dict[str, list[str]] = json.loads(self._read())

    def _read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a benchmark worker died (exit {self.process.wait(timeout=30)})")
        return line

    def time(self, path: str, n: int) -> tuple[float, float]:
        """Wall-clock and CPU seconds (this worker process's) of ``n`` requests to ``path``."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{path} {n}\n")
        self.process.stdin.flush()
        wall, cpu = self._read().split()
        return float(wall), float(cpu)

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the worker process ----------------------------------------------------------------------


def _flask_peer(endpoint: str, table: str) -> tuple[Any, str, Any, Any]:
    import boto3
    from flask import Flask, session
    from flask_session import Session

    from bench import views

    resource = boto3.resource("dynamodb", endpoint_url=endpoint)
    app = Flask("bench_flask_session")
    app.config.update(
        SESSION_TYPE="dynamodb",
        SESSION_DYNAMODB=resource,
        SESSION_DYNAMODB_TABLE=table,
        PERMANENT_SESSION_LIFETIME=3600,
    )
    Session(app)  # creates its table
    views.flask_routes(app, session)

    return (
        app.wsgi_app,
        "session",
        PeerCalls(resource.meta.client),
        lambda: resource.Table(table).delete(),
    )


def _django_peer(endpoint: str, table: str) -> tuple[Any, str, Any, Any]:
    from bench.adapters import configure_django

    os.environ["LOCAL_DYNAMODB_SERVER"] = endpoint
    name = "bench_peer_dj_dynamodb_sessions"  # not "dynamodb_sessions", which is ours
    configure_django(
        name,
        SESSION_COOKIE_AGE=3600,
        DYNAMODB_SESSIONS_TABLE_NAME=table,
        USE_LOCAL_DYNAMODB_SERVER=True,
    )
    spec = importlib.util.spec_from_file_location(name, DJ_BACKEND)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    client = module.dynamodb_connection_factory().meta.client
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "session_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "session_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)
    from django.core.handlers.wsgi import WSGIHandler

    return (
        WSGIHandler(),
        "sessionid",
        PeerCalls(client),
        lambda: client.delete_table(TableName=table),
    )


def _ours(framework: str, endpoint: str) -> tuple[Any, str, Any, Any]:
    from bench._common import Clock, Unmetered, drop_table, new_table
    from bench.adapters import ADAPTERS

    cfg = new_table(endpoint, f"peers-{framework.lower()}")
    adapter = ADAPTERS[framework](cfg, Unmetered(), Clock())  # no hooks: the peers have none

    def close() -> None:
        adapter.close()
        drop_table(cfg)

    return adapter.app, adapter.cookie_name, OurCalls(adapter.store), close


class OurCalls:
    """Counts the DynamoDB operations of our store, whichever transport carries them (the
    lean one, by default, has no botocore events): through its metrics hook, replaced while
    counting only, so the timed requests run with the store's own hook."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def start(self, operations: list[str]) -> Callable[[], None]:
        from dynamodb_sessions.metrics import Metrics

        class Recording(Metrics):
            def call(self, operation: str, outcome: str, **_: Any) -> None:
                operations.append(operation)

        kept, self.store.metrics = self.store.metrics, Recording()

        def stop() -> None:
            self.store.metrics = kept

        return stop


class PeerCalls:
    """Counts the DynamoDB operations of a peer's botocore client (its ``before-call``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def start(self, operations: list[str]) -> Callable[[], None]:
        def count(model: Any, **_: Any) -> None:
            operations.append(model.name)

        self.client.meta.events.register("before-call.dynamodb", count)
        return lambda: self.client.meta.events.unregister("before-call.dynamodb", count)


def app_for(framework: str, variant: str, endpoint: str) -> tuple[Any, str, Any, Any]:
    """A variant's WSGI app on a table of its own: (app, cookie name, its call counter
    (:class:`OurCalls` or :class:`PeerCalls`), close)."""
    table = f"bench-peer-{uuid.uuid4().hex[:8]}"
    if variant != "peer":
        return _ours(framework, endpoint)
    if framework == "Flask":
        return _flask_peer(endpoint, table)
    return _django_peer(endpoint, table)


def new_session(app: Any, cookie_name: str) -> str:
    """Store a new 2 KB session through ``app`` (a ``/write`` without a cookie); return the
    ``Cookie`` header that names it."""
    from bench.adapters import call_wsgi

    _, headers = call_wsgi(app, "/write", None)
    (cookie,) = (
        value.strip().split(";", 1)[0]
        for name, value in headers
        if name.lower() == "set-cookie" and value.strip().startswith(f"{cookie_name}=")
    )
    return cookie


def _serve(framework: str, variant: str, endpoint: str) -> None:
    from bench.adapters import call_wsgi

    app, cookie_name, counter, close = app_for(framework, variant, endpoint)
    try:
        cookie = new_session(app, cookie_name)
        operations: list[str] = []
        calls = {}
        stop = counter.start(operations)
        for path in PATHS.values():
            operations.clear()
            status, _ = call_wsgi(app, path, cookie)
            assert status == 200, (path, status)
            calls[path] = list(operations)
        stop()
        print(json.dumps(calls), flush=True)
        for line in sys.stdin:
            path, count_text = line.split()
            start, used = time.perf_counter(), time.process_time()
            for _ in range(int(count_text)):
                call_wsgi(app, path, cookie)
            print(time.perf_counter() - start, time.process_time() - used, flush=True)
    finally:
        close()


def main(argv: list[str]) -> int:
    """``python -m bench.peers [--rounds 7] [--n 100] [--rtts 0,5] [--baseline-src DIR]``:
    this comparison alone, on a dynalite of its own; prints a line per row."""
    import argparse

    from bench._common import dynalite

    parser = argparse.ArgumentParser(prog="python -m bench.peers")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--rtts", default="0", help="modelled round trips, ms (0: direct)")
    parser.add_argument("--baseline-src", metavar="DIR", help="also this tree's library: before")
    args = parser.parse_args(argv)
    rtts = [float(rtt) for rtt in args.rtts.split(",")]
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with dynalite() as endpoint:
        rows = measure(endpoint, args.rounds, args.n, rtts, baseline_src=args.baseline_src)
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        before = "" if r.before_ratio is None else f", ours/before {r.before_ratio:.2f}x"
        cpu = " / ".join(f"{v} {us:.0f} us" for v, us in r.cpu_us.items())
        print(
            f"{r.framework} {r.kind} {_latency(r.rtt_ms)}: ours/peer {ratio}{before}; "
            f"CPU per request {cpu}; per round {', '.join(f'{x:.2f}' for x in r.ratios)}"
        )
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in PEERS:  # a worker (see _Worker)
        _serve(*sys.argv[1:4])
    else:
        raise SystemExit(main(sys.argv[1:]))

"""A bounded soak test: a real threaded WSGI server on 127.0.0.1 serving the session middleware
over dynalite, driven by a Python load generator for a fixed time. It records the server's
memory (RSS) over time, throughput, latencies, and every error; results go in docs/soak.md.

    .venv/bin/python bench/soak.py --duration 180 --users 16

Each virtual user is one keep-alive connection that keeps its own session and checks every read
against what it wrote (a lost or mixed-up update is an error), with some logins (rotate),
logouts, new visitors and hostile cookies mixed in. Everything is bounded: the load stops at the
deadline, the server and dynalite are stopped in every case. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent


# -- the server (a subprocess, so its memory is its own) ---------------------------------------


def serve(endpoint: str, table: str) -> None:
    from werkzeug.serving import make_server

    from dynamodb_sessions import Connection, SessionStore, StoreConfig
    from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ[ENVIRON_KEY]
        path = environ["PATH_INFO"]
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        body: dict[str, Any] = {"ok": True}
        if path == "/get":
            body = dict(session)
        elif path == "/set":
            session.update(query)
        elif path == "/rotate":
            session.rotate()
        elif path == "/logout":
            session.flush()
        payload = json.dumps(body).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    connection = Connection(
        endpoint_url=endpoint, region="us-east-1", access_key="local", secret_key="local"
    )
    store = SessionStore(StoreConfig(table=table, connection=connection))
    server = make_server("127.0.0.1", 0, SessionMiddleware(app, store), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


# -- the load -----------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []

    def record(self, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if error:
                self.errors[error] += 1


def user(port: int, deadline: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    cookie: str | None = None
    expected: dict[str, str] = {}
    counter = 0

    def call(path: str, sent_cookie: str | None) -> tuple[int, Any, str | None]:
        headers = {"Cookie": f"session={sent_cookie}"} if sent_cookie else {}
        started = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            tally.record(time.perf_counter() - started, f"connection: {type(exc).__name__}")
            return 0, None, None
        elapsed = time.perf_counter() - started
        issued = None
        for header in response.headers.get_all("Set-Cookie") or []:
            value = header.split(";")[0].partition("=")[2]
            if "Max-Age=0" not in header:
                issued = value
        error = None if response.status == 200 else f"status {response.status}"
        tally.record(elapsed, error)
        return response.status, json.loads(body) if response.status == 200 else None, issued

    while time.monotonic() < deadline:
        roll = rng.random()
        if cookie is None or roll < 0.05:  # a new visitor
            counter += 1
            expected = {"n": str(counter)}
            status, _, cookie = call(f"/set?n={counter}", None)
            if status == 200 and cookie is None:
                tally.errors["no cookie for a new session"] += 1
        elif roll < 0.60:
            status, body, _ = call("/get", cookie)
            if status == 200 and body != expected:
                tally.errors["read differs from what was written"] += 1
        elif roll < 0.88:
            counter += 1
            expected["n"] = str(counter)
            call(f"/set?n={counter}", cookie)
        elif roll < 0.91:
            status, _, issued = call("/rotate", cookie)
            if status == 200:
                if issued in (None, cookie):
                    tally.errors["rotate kept the id"] += 1
                cookie = issued
        elif roll < 0.93:
            old = cookie
            call("/logout", cookie)
            status, body, _ = call("/get", old)
            if status == 200 and body != {}:
                tally.errors["a logged-out session still answers"] += 1
            cookie = None
        else:  # hostile cookies: never a 500, never someone's session
            bad = rng.choice(["garbage", "A" * 4000, uuid.uuid4().hex + "x" * 11, "é" * 43])
            status, body, _ = call("/get", bad)
            if status == 200 and body != {}:
                tally.errors["a hostile cookie got a session"] += 1
    conn.close()


# -- orchestration ------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load (max 900)")
    parser.add_argument("--users", type=int, default=16, help="concurrent users (connections)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--serve", nargs=2, metavar=("ENDPOINT", "TABLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    duration = min(args.duration, 900.0)

    from dynamodb_sessions import Connection, SessionStore, StoreConfig
    from dynamodb_sessions.exceptions import ConfigurationError
    from dynamodb_sessions.local import dynalite_engine

    cli = Path(os.environ.get("DYNALITE_CLI") or ROOT / ".tools/node_modules/dynalite/cli.js")
    engine = ExitStack()
    try:
        endpoint = engine.enter_context(dynalite_engine(cli))
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    server = None
    try:
        table = f"soak-{uuid.uuid4().hex[:8]}"
        connection = Connection(
            endpoint_url=endpoint, region="us-east-1", access_key="local", secret_key="local"
        )
        with SessionStore(StoreConfig(table=table, connection=connection)) as store:
            assert store.create_table(wait_seconds=30).ok
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", endpoint, table],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        port = int(server.stdout.readline())
        wait_for_port(port)

        tally = Tally()
        started = time.monotonic()
        deadline = started + duration
        threads = [
            threading.Thread(target=user, args=(port, deadline, tally, seed), daemon=True)
            for seed in range(args.users)
        ]
        for thread in threads:
            thread.start()
        samples = [(0.0, rss_mb(server.pid), 0, 0)]
        print(f"{'t (s)':>6} {'RSS MB':>8} {'req/s':>7} {'errors':>6}", flush=True)
        while time.monotonic() < deadline:
            time.sleep(min(args.sample, max(0.0, deadline - time.monotonic())))
            with tally.lock:
                done, errors = tally.requests, sum(tally.errors.values())
            elapsed = time.monotonic() - started
            previous = samples[-1]
            rate = (done - previous[2]) / max(elapsed - previous[0], 1e-9)
            samples.append((elapsed, rss_mb(server.pid), done, errors))
            print(f"{elapsed:6.0f} {samples[-1][1]:8.1f} {rate:7.0f} {errors:6d}", flush=True)
        for thread in threads:
            thread.join(timeout=15)
        stuck = sum(thread.is_alive() for thread in threads)

        latencies = sorted(tally.latencies)
        total = time.monotonic() - started

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        warm = next(
            (s for s in samples if s[0] >= 30), samples[1] if len(samples) > 1 else samples[0]
        )
        print()
        print(
            f"duration {total:.0f} s, {args.users} users, {tally.requests} requests, "
            f"{tally.requests / total:.0f} req/s"
        )
        print(
            f"latency ms: p50 {pct(0.50):.1f}, p95 {pct(0.95):.1f}, p99 {pct(0.99):.1f}, "
            f"max {latencies[-1] * 1000:.1f}, mean {statistics.fmean(latencies) * 1000:.1f}"
        )
        print(
            f"server RSS MB: start {samples[0][1]:.1f}, after warm-up ({warm[0]:.0f} s) "
            f"{warm[1]:.1f}, end {samples[-1][1]:.1f}, max {max(s[1] for s in samples):.1f}"
        )
        print(f"errors: {sum(tally.errors.values())} {dict(tally.errors)}; users stuck: {stuck}")
        return 1 if tally.errors or stuck else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        engine.close()


if __name__ == "__main__":
    sys.exit(main())

"""The CPU of one request through this library's Flask or Django adapter, DynamoDB's answers
replayed: what the library, its transport's wire work and the framework cost, without the
engine, the socket or the machine's other load. Before/after figures for CPU cuts.

    .venv/bin/python -m bench.replay [--baseline-src ../main/src] [--rounds 41] [--n 100]
    .venv/bin/python -m bench.replay --profile Flask /write    # cProfile of one, by function

Each variant (this tree's library, and with ``--baseline-src`` another tree's) is an app of
``bench/peers.py`` in a worker process of its own, against dynalite. It sends each endpoint's
request once for real and records DynamoDB's answers; from then on its transport is answered
with them at the HTTP exchange (``Transport._send``), so everything above the HTTP layer runs
as in production: the adapter, the session, the flows, the request building, signing and
parsing of the lean transport. The parent asks the workers in turn, rounds alternating which
goes first, for the process CPU time of ``n`` requests; a figure is the median over rounds
(many short rounds: on a shared machine the load moves less within one).
Needs the lean transport (the default; botocore's, ``AWS_DYNAMODB_SESSION_TRANSPORT=botocore``,
has no such seam).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, dynalite, median
from bench.peers import CREDENTIALS

PATHS = ("/read", "/write", "/unused")


def replaying(store: Any, app: Any, cookie: str, paths: tuple[str, ...]) -> dict[str, Any]:
    """Send each of ``paths`` once for real, recording DynamoDB's answers by operation; then
    answer ``store``'s transport with them. Returns the answers (operation -> ``wire.Answer``)."""
    from bench.adapters import call_wsgi

    transport = store.transport
    if transport is None:
        raise SystemExit(
            "bench.replay needs the lean transport: AWS_DYNAMODB_SESSION_TRANSPORT=lean"
        )
    answers: dict[str, Any] = {}
    send = transport._send

    def record(body: bytes, headers: dict[str, str]) -> Any:
        answer = send(body, headers)
        answers[headers["X-Amz-Target"]] = answer
        return answer

    transport._send = record
    for path in paths:
        call_wsgi(app, path, cookie)
        call_wsgi(app, path, cookie)  # the second: the steady state (a write's answer, a read's)
    transport._send = lambda body, headers: answers[headers["X-Amz-Target"]]
    return answers


def _worker(framework: str, endpoint: str, profile: str | None) -> None:
    from bench.adapters import call_wsgi
    from bench.peers import app_for, new_session

    app, cookie_name, calls, close = app_for(framework, "ours", endpoint)
    try:
        cookie = new_session(app, cookie_name)
        replaying(calls.store, app, cookie, PATHS)
        if profile:
            path, n = profile.split()
            # The wall clock: nothing waits here, and reading it costs the profiler far less.
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(int(n)):
                call_wsgi(app, path, cookie)
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(60)
            return
        print("ready", flush=True)
        for line in sys.stdin:
            path, count = line.split()
            for _ in range(5):
                call_wsgi(app, path, cookie)
            used = time.process_time()
            for _ in range(int(count)):
                call_wsgi(app, path, cookie)
            print(time.process_time() - used, flush=True)
    finally:
        close()


def _start(framework: str, endpoint: str, src: str, profile: str | None = None) -> Any:
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": os.pathsep.join([src, str(ROOT)])}
    command = [sys.executable, "-m", "bench.replay", "--worker", framework, endpoint]
    if profile:
        command += ["--worker-profile", profile]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=None if profile else subprocess.PIPE,
        text=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--baseline-src", metavar="DIR", help="also this tree's library: before")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--frameworks", default="Flask,Django")
    parser.add_argument("--profile", nargs=2, metavar=("FRAMEWORK", "PATH"))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--worker-profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker, args.worker_profile)
        return 0
    variants = {"after": str(ROOT / "src")}
    if args.baseline_src:
        variants["before"] = str(Path(args.baseline_src).resolve())
    with dynalite() as endpoint:
        if args.profile:
            framework, path = args.profile
            _start(framework, endpoint, variants["after"], f"{path} {args.n}").wait(timeout=600)
            return 0
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        for framework in args.frameworks.split(","):
            _compare(framework, endpoint, variants, args.rounds, args.n)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return 0


def _compare(framework: str, endpoint: str, variants: dict[str, str], rounds: int, n: int) -> None:
    with contextlib.ExitStack() as stack:
        workers = {}
        for name, src in variants.items():
            worker = _start(framework, endpoint, src)
            stack.callback(_stop, worker)
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {name} worker failed")
            workers[name] = worker
        cpu: dict[str, dict[str, list[float]]] = {p: {v: [] for v in variants} for p in PATHS}
        for round_ in range(rounds):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for path in PATHS:
                for name in order:
                    worker = workers[name]
                    assert worker.stdin is not None
                    assert worker.stdout is not None
                    worker.stdin.write(f"{path} {n}\n")
                    worker.stdin.flush()
                    cpu[path][name].append(1e6 * float(worker.stdout.readline()) / n)
        for path in PATHS:
            cells = [f"{name} {median(values):6.0f} us" for name, values in cpu[path].items()]
            line = f"{framework:6} {path:6}  " + "  ".join(cells)
            if "before" in variants:
                ratios = [
                    b / a for a, b in zip(cpu[path]["after"], cpu[path]["before"], strict=True)
                ]
                line += f"  before/after {median(ratios):.2f}x"
                line += " (rounds " + ", ".join(f"{r:.2f}" for r in ratios) + ")"
            print(line, flush=True)


def _stop(worker: Any) -> None:
    assert worker.stdin is not None
    worker.stdin.close()
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())

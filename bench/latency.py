"""A modelled network round trip: a proxy on 127.0.0.1 in front of a local engine (dynalite)
that adds a set time to every DynamoDB call, so a benchmark sees what a request costs against
DynamoDB in-region (1 to 20 ms a call) rather than against a process on the same machine.

    from bench.latency import latency_proxy

    with dynalite() as engine, latency_proxy(engine, rtt_ms=5) as endpoint:
        ...  # point a Connection (or any botocore client) at ``endpoint``

It is the fault proxy of the tests (tests/faults/proxy.py) with its ``delay``: half of the round
trip before a request reaches the engine, half before its answer is relayed, per call (HTTP
keep-alive carries many calls on one connection), each connection on its own thread so calls in
flight wait side by side. It runs in a process of its own, so its Python work does not compete
for the benchmark's GIL (it still shares the machine's CPUs, as dynalite does). ``rtt_ms=0``
yields the engine itself: no proxy, "direct".

Run alone (it prints its endpoint and serves until stdin closes)::

    python -m bench.latency --upstream http://127.0.0.1:PORT --rtt-ms 5
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def latency_proxy(upstream: str, rtt_ms: float) -> Iterator[str]:
    """A proxy process adding ``rtt_ms`` milliseconds to every call to ``upstream`` (the URL of
    an engine on 127.0.0.1); yields the proxy's URL, and stops the process on exit. With
    ``rtt_ms == 0`` there is no proxy and it yields ``upstream``."""
    if rtt_ms <= 0:
        yield upstream
        return
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.latency", "--upstream", upstream, "--rtt-ms", str(rtt_ms)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the latency proxy did not start (said {endpoint!r})")
        yield endpoint
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the proxy's signal to stop
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--upstream", required=True, help="the engine, http://127.0.0.1:PORT")
    parser.add_argument("--rtt-ms", type=float, required=True, help="added to every call")
    args = parser.parse_args(argv)
    if not args.upstream.startswith("http://127.0.0.1:"):
        raise SystemExit("only an engine on 127.0.0.1")
    sys.path.insert(0, str(ROOT / "tests"))
    from faults.proxy import FaultProxy

    # A benchmark's idle connection may wait minutes between rounds: a long bound.
    with FaultProxy(args.upstream, bound=3600.0, delay=args.rtt_ms / 1000) as proxy:
        print(proxy.endpoint, flush=True)
        sys.stdin.read()  # until the parent closes stdin (or dies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

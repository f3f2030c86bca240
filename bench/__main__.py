"""``python -m bench``: every benchmark in one run on one dynalite process; prints a summary
and writes docs/benchmarks.md (with PNG plots next to it, in docs/benchmarks/).

    .venv/bin/python -m bench                      # the full run (a few minutes)
    .venv/bin/python -m bench --smoke --out /tmp/b.md --no-plots   # tiny sizes (the test suite)
    .venv/bin/python -m bench --baseline-src ../main/src   # also "before": another tree's library
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    calls,
    concurrency,
    gcbench,
    inflight,
    mix,
    overhead,
    peers,
    profile_read,
    report,
    transport,
)
from bench._common import ROOT, dynalite, sizer_client

ADAPTERS = ["WSGI", "Flask", "Django", "Starlette"]

SIZES = {
    "full": {
        "overhead": {"rounds": 7, "n": 150},
        "mix": {"users": 10, "minutes": 60},
        "concurrency": {"concurrency": 16, "per_worker": 25, "rounds": 5},
        "gc": {"items": 1000, "rounds": 3},
        "profile": {"n": 1000, "rounds": 5},
        "transport": {"rounds": 5, "n": 300},
        "wire": {"shapes": [(8, 50), (64, 20)]},
        "peers": {"rounds": 7, "n": 100, "rtts": [0, 5, 20]},
        "inflight": {"rtt_ms": 5, "levels": [1, 16, 256], "requests": 200, "rounds": 3},
    },
    "smoke": {
        "overhead": {"rounds": 2, "n": 3},
        "mix": {"users": 2, "minutes": 5},
        "concurrency": {"concurrency": 4, "per_worker": 2, "rounds": 2},
        "gc": {"items": 30, "rounds": 1},
        "profile": {"n": 10, "rounds": 2},
        "transport": {"rounds": 1, "n": 5},
        "wire": {"shapes": [(2, 3), (4, 2)]},
        "peers": {"rounds": 1, "n": 2, "rtts": [5]},
        "inflight": {
            "rtt_ms": 5,
            "levels": [2],
            "requests": 4,
            "rounds": 1,
            "kinds": ("read-only",),
            "least": 1,
        },
    },
}


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it all runs")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"), help="report path")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="the peer comparison also runs this library from DIR (e.g. main's src): before/after",
    )
    parser.add_argument("--save-results", metavar="PICKLE", help=argparse.SUPPRESS)
    parser.add_argument("--from-results", metavar="PICKLE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # A plain SIGTERM would skip the cleanup below and leave dynalite running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.from_results:  # re-render a saved run (after editing the report's text)
        results = pickle.loads(Path(args.from_results).read_bytes())
        report.write(results, Path(args.out), plots=not args.no_plots)
        print(report.summary(results))
        return 0
    mode = "smoke" if args.smoke else "full"
    sizes = SIZES[mode]
    plots = not args.no_plots
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed (pip install --group bench): no plots")
            plots = False
    shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != args.save_results]
    command = "python -m bench " + " ".join(a for a in shown if a != "--save-results")
    started = time.time()
    results: dict[str, Any] = {"mode": mode, "sizes": sizes, "command": command.strip()}
    with dynalite() as endpoint:
        sizer = sizer_client(endpoint)
        results["load_before"] = os.getloadavg()[0]
        step("calls per request")
        results["calls"] = calls.measure(endpoint, sizer, ADAPTERS)
        step("capacity units for the mix")
        results["mix"] = mix.measure(endpoint, sizer, **sizes["mix"])
        step("overhead against one raw GetItem")
        results["overhead"] = overhead.measure(endpoint, sizer, ADAPTERS, **sizes["overhead"])
        step("sync vs async")
        results["concurrency"] = concurrency.measure(endpoint, sizer, **sizes["concurrency"])
        step("GC throughput")
        results["gc"] = gcbench.measure(endpoint, **sizes["gc"])
        step("profile of the read path")
        results["profile"] = profile_read.measure(
            endpoint, sizer, profile=not args.smoke, **sizes["profile"]
        )
        step("botocore against the lean transport")
        results["transport"] = transport.measure(endpoint, sizer, ADAPTERS, **sizes["transport"])
        step("one session, many requests at once, counted at the wire")
        results["wire"] = concurrency.measure_wire(endpoint, **sizes["wire"])
        step("against the peers, direct and at modelled latencies")
        results["peers"] = peers.measure(endpoint, baseline_src=args.baseline_src, **sizes["peers"])
        step("sync vs async at a modelled latency")
        results["inflight"] = inflight.measure(endpoint, **sizes["inflight"])
        results["load_after"] = os.getloadavg()[0]
    results["seconds"] = time.time() - started
    results["finished"] = time.time()
    results["environment"] = report.environment()
    out = Path(args.out)
    report.write(results, out, plots=plots)
    print(report.summary(results))
    print(f"\nwrote {out}" + (f" and plots in {out.with_suffix('')}/" if plots else ""))
    if args.save_results:
        Path(args.save_results).write_bytes(pickle.dumps(results))
    if args.json:
        Path(args.json).write_text(json.dumps(_jsonable(results), indent=1, default=str))
    return 0


def step(name: str) -> None:
    print(f"== {name}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a whole request's CPU goes: cProfile over requests through one of the benchmark apps of
bench/peers.py (this library's or a peer's) against dynalite, own time summed by package.

    .venv/bin/python -m bench.where Flask ours /read [--n 300]

Prints microseconds per request (under the profiler, which inflates small functions more than
large ones: read the shares, not the totals) for this library, botocore, urllib3/http.client
(and the stdlib's email header parser they use), the framework, and the rest, then this
library's own functions, costliest first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections import Counter

PACKAGES = (
    "dynamodb_sessions",
    "flask_session",
    "bench_peer_dj_dynamodb_sessions",
    "boto3",
    "botocore",
    "urllib3",
    "http/client",
    "email",
    "flask",
    "werkzeug",
    "django",
    "msgspec",
    "json",
    "socket",
)


LEAN_TRANSPORT = ("/transport.py", "/_core/wire.py", "/_core/http.py")


def package(path: str, name: str) -> str:
    if path == "~":  # a builtin: socket I/O apart from the rest
        return "socket I/O" if "socket" in name or "poll" in name else "builtins"
    if "dj_dynamodb_sessions" in path or "/.tools/peers/" in path:
        return "dj-dynamodb-sessions"
    if "dynamodb_sessions" in path and path.endswith(LEAN_TRANSPORT):
        return "dynamodb_sessions (lean transport)"  # in place of botocore and urllib3
    for key in PACKAGES:
        if key in path:
            return key
    return "other"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.where", description=__doc__)
    parser.add_argument("framework", choices=["Flask", "Django"])
    parser.add_argument("variant", choices=["ours", "peer"])
    parser.add_argument("path", choices=["/read", "/write", "/unused"])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument(
        "--wall",
        action="store_true",
        help="time by the wall clock (the default is the process's CPU time, which leaves out "
        "the engine's share and waiting to be scheduled)",
    )
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    from bench._common import dynalite
    from bench.adapters import call_wsgi
    from bench.peers import app_for, new_session

    with dynalite() as endpoint:
        app, cookie_name, _, close = app_for(args.framework, args.variant, endpoint)
        try:
            cookie = new_session(app, cookie_name)
            for _ in range(50):
                call_wsgi(app, args.path, cookie)
            profiler = cProfile.Profile() if args.wall else cProfile.Profile(time.process_time)
            profiler.enable()
            for _ in range(args.n):
                call_wsgi(app, args.path, cookie)
            profiler.disable()
        finally:
            close()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    shares: Counter[str] = Counter()
    ours = []
    for (path, line, name), (_, calls, own, _, _) in stats.items():
        shares[package(path, name)] += own
        if "dynamodb_sessions" in path and "/.tools/" not in path:
            ours.append((own, calls, f"{os.path.basename(path)}:{line}({name})"))
    total = sum(shares.values())
    print(f"{args.framework} {args.variant} {args.path}: {1e6 * total / args.n:.0f} us/request")
    for key, own in shares.most_common():
        print(f"  {100 * own / total:5.1f}%  {1e6 * own / args.n:7.0f} us  {key}")
    print("this library's functions (own time):")
    for own, calls, where in sorted(ours, reverse=True)[:15]:
        print(f"  {1e6 * own / args.n:7.1f} us  {calls / args.n:4.1f}/request  {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

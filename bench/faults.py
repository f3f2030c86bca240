"""Time to answer under DynamoDB faults, with the library's default client settings (1 s connect
and read timeouts, 3 attempts in botocore's standard retry mode), at the WSGI middleware.

    .venv/bin/python bench/faults.py [--runs 5]

The fault proxy of the tests (tests/faults/proxy.py) sits between the store and dynalite on
127.0.0.1 and stalls, refuses, cuts or throttles every request; each run is one request of a
user with a stored session. Prints, per fault, the status answered, the HTTP attempts the store
made (counted at the proxy, whichever transport sent them: so 0 for a refused connection, which
never reaches it) and the time to answer. Results go in
SECURITY.md ("How faults are handled").
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
import uuid

from soak import ROOT, free_port, wait_for_port

sys.path.insert(0, str(ROOT / "tests"))

from werkzeug.test import Client

from dynamodb_sessions import Connection, SessionStore, StoreConfig
from dynamodb_sessions.integrations.wsgi import ENVIRON_KEY, SessionMiddleware
from faults.proxy import FaultProxy


def app(environ, start_response):
    environ[ENVIRON_KEY]["n"] = environ[ENVIRON_KEY].get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    node = shutil.which("node")
    cli = ROOT / ".tools/node_modules/dynalite/cli.js"
    port = free_port()
    engine = subprocess.Popen(
        [
            node or "node",
            str(cli),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        with FaultProxy(f"http://127.0.0.1:{port}") as proxy:
            connection = Connection(
                endpoint_url=proxy.endpoint,
                region="us-east-1",
                access_key="local",
                secret_key="local",
            )
            config = StoreConfig(table=f"faults-{uuid.uuid4().hex[:8]}", connection=connection)
            store = SessionStore(config)
            assert store.create_table(wait_seconds=30).ok
            web = Client(SessionMiddleware(app, store))
            web.get("/")
            head = ("fault", "status", "attempts", "seconds: min", "median", "max")
            print("{:<22} {:>6} {:>8} {:>13} {:>7} {:>6}".format(*head))
            for fault in ("none", "throttle", "throttle x2 then ok", "refuse", "stall", "cut"):
                times, statuses, counts = [], set(), set()
                for _ in range(args.runs):
                    if fault == "refuse":
                        proxy.refuse()
                    elif fault == "throttle x2 then ok":
                        proxy.rule("throttle", times=2)
                    elif fault != "none":
                        proxy.rule(fault)
                    sent = len(proxy.operations())
                    started = time.monotonic()
                    response = web.get("/")
                    times.append(time.monotonic() - started)
                    statuses.add(response.status_code)
                    counts.add(len(proxy.operations()) - sent)
                    proxy.heal()
                    proxy.restore()
                print(
                    f"{fault:<22} {'/'.join(map(str, sorted(statuses))):>6} "
                    f"{'/'.join(map(str, sorted(counts))):>8} {min(times):13.2f} "
                    f"{statistics.median(times):7.2f} {max(times):6.2f}"
                )
            store.close()
    finally:
        engine.terminate()
        engine.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

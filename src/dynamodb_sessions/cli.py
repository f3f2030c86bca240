"""The ``dynamodb-sessions`` command (also ``python -m dynamodb_sessions``).

Configuration comes from the environment names of :mod:`dynamodb_sessions.config`; options
given here win. Exit codes: 0 done / fit, 1 a problem was found, 2 bad configuration or usage,
3 DynamoDB could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from ._core.table import TableReport
from .config import StoreConfig
from .exceptions import BackendError, ConfigurationError
from .store import SessionStore

OK, PROBLEM, USAGE, UNREACHABLE = 0, 1, 2, 3

Command = Callable[[argparse.Namespace, TextIO], int]


def store_from_args(args: argparse.Namespace) -> SessionStore:
    """A store from the environment, with ``--table``/``--region``/``--endpoint-url`` applied."""
    overrides: dict[str, object] = {}
    if args.table:
        overrides["table"] = args.table
    if args.region:
        overrides["region"] = args.region
    if args.endpoint_url:
        overrides["endpoint_url"] = args.endpoint_url
    return SessionStore(StoreConfig.from_env(None, **overrides))


def print_report(report: TableReport, out: TextIO) -> int:
    """Print what ``create-table`` or ``check`` found; return the exit code it implies."""
    if report.exists:
        created = "created" if report.created else "exists"
        print(f"table {report.table!r}: {created}, status {report.status}", file=out)
        ttl = "no TTL API on this engine" if report.ttl is None else report.ttl
        attribute = f" on {report.ttl_attribute!r}" if report.ttl_attribute else ""
        print(f"TTL: {ttl}{attribute}", file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    for problem in report.problems:
        print(f"problem: {problem}", file=out)
    if report.ok:
        print("ok: the table is ready for sessions", file=out)
    return OK if report.ok else PROBLEM


def cmd_create_table(args: argparse.Namespace, out: TextIO) -> int:
    """Create the table (idempotent), wait until it is active, and turn TTL on."""
    if (args.read_capacity is None) != (args.write_capacity is None):
        raise ConfigurationError("give both --read-capacity and --write-capacity, or neither")
    report = store_from_args(args).create_table(
        read_capacity=args.read_capacity,
        write_capacity=args.write_capacity,
        wait_seconds=args.wait,
    )
    return print_report(report, out)


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Check that the table exists, has the right key and collects expired items."""
    return print_report(store_from_args(args).check_table(), out)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the demo web app (on the embedded local engine unless one is configured)."""
    from .demo import serve

    return serve(host=args.host, port=args.port, out=out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="dynamodb-sessions",
        description="Web sessions in Amazon DynamoDB: table tooling, maintenance and a demo.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--table", help="table name (default: $AWS_DYNAMODB_SESSION_TABLE)")
    common.add_argument("--region", help="AWS region (default: $AWS_REGION_NAME)")
    common.add_argument("--endpoint-url", help="endpoint (default: $AWS_DYNAMODB_ENDPOINT)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = sub.add_parser(
        "create-table", parents=[common], help="create the session table (idempotent), TTL on"
    )
    create.add_argument("--read-capacity", type=int, help="provisioned RCUs (default on-demand)")
    create.add_argument("--write-capacity", type=int, help="provisioned WCUs (default on-demand)")
    create.add_argument("--wait", type=float, default=300.0, help="seconds to wait for ACTIVE")
    create.set_defaults(handler=cmd_create_table)

    check = sub.add_parser("check", parents=[common], help="check the table is fit for sessions")
    check.set_defaults(handler=cmd_check)

    demo = sub.add_parser("demo", help="run a demo web app on an embedded local engine")
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on (loopback)")
    demo.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    stream = out or sys.stdout
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args, stream)
    except ConfigurationError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return USAGE
    except BackendError as exc:
        print(f"DynamoDB error: {exc}", file=sys.stderr)
        return UNREACHABLE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

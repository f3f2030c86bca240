"""The ``dynamodb-sessions`` command (also ``python -m dynamodb_sessions``).

Configuration comes from the environment names of :mod:`dynamodb_sessions.config`; options
given here win. Exit codes: 0 done / fit, 1 a problem was found (or DynamoDB refused the
request: permissions, validation), 2 bad configuration or usage (no credentials, no such
table, a malformed endpoint included), 3 DynamoDB could not be reached.

No command here judges a session by the session timeout (each item carries its own, and the
GC lifetime is in its ``expires``), so none assumes one: a valid
``AWS_DYNAMODB_SESSION_LIFETIME`` is never refused for being shorter than some default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TextIO, TypeVar

from botocore.exceptions import NoCredentialsError, PartialCredentialsError

from ._core.gc import GCCheckpoint, GCReport
from ._core.stats import ScanProgress
from ._core.table import TableReport
from .config import (
    ACCESS_KEY_ENV,
    GC_MARGIN,
    GC_MARGIN_ENV,
    SECRET_KEY_ENV,
    TABLE_ENV,
    StoreConfig,
    gc_lifetime_from_env,
)
from .exceptions import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    SessionError,
    TableNotFoundError,
)
from .local import LOCAL_TABLE
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
    # These commands never read the timeout (see the module docstring); a configured GC
    # lifetime must not be refused for being shorter than the default one.
    lifetime = gc_lifetime_from_env()
    if lifetime is not None:
        overrides["timeout"] = lifetime
    return SessionStore(StoreConfig.from_env(None, **overrides))


def print_report(report: TableReport, out: TextIO) -> int:
    """Print what ``create-table`` or ``check`` found; return the exit code it implies."""
    if report.exists:
        created = "created" if report.created else "exists"
        print(f"table {report.table!r}: {created}, status {report.status}", file=out)
        ttl = "no TTL API on this engine" if report.ttl is None else report.ttl
        attribute = f" on {report.ttl_attribute!r}" if report.ttl_attribute else ""
        print(f"TTL: {ttl}{attribute}", file=out)
        if report.user_index is not None:
            index = report.user_index_status or "missing"
            print(f"user index {report.user_index!r}: {index}", file=out)
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


def cmd_gc(args: argparse.Namespace, out: TextIO) -> int:
    """Delete expired sessions (parallel scan; batches beyond the margin, else conditional)."""
    progress = _progress_line(out, _gc_progress)
    store = store_from_args(args)
    resume = save = None
    if args.checkpoint:
        path = Path(args.checkpoint)
        if path.exists():
            resume = GCCheckpoint.loads(path.read_text(), store.config)
            print(
                f"resuming from {path}: {len(resume.done)}/{resume.segments} segments done",
                file=out,
            )

        def save(checkpoint: GCCheckpoint) -> None:
            # Replaced whole, so a run stopped while writing leaves the previous position.
            partial = path.with_name(path.name + ".tmp")
            partial.write_text(checkpoint.dumps())
            os.replace(partial, path)

    report = store.gc(
        segments=args.segments,
        dry_run=args.dry_run,
        progress=progress,
        margin=args.margin,
        page_size=args.page_size,
        resume=resume,
        checkpoint=save,
    )
    if progress is not None:
        progress.done()
    if args.checkpoint:
        Path(args.checkpoint).unlink(missing_ok=True)  # finished: the next run starts afresh
    print(report.summary(), file=out)
    return OK


def cmd_stats(args: argparse.Namespace, out: TextIO) -> int:
    """Count what the table holds: sessions, those expired but still present (TTL lag), item
    size percentiles, the share compressed and encrypted, and sessions per user (counts only:
    no session, key or user is ever shown). A parallel scan of whole items (billed as such),
    with progress on a terminal; --json for scripts."""
    store = store_from_args(args)
    progress = _progress_line(out, _scan_progress)
    stats = store.stats(segments=args.segments, progress=progress)
    if progress is not None:
        progress.done()
    prefix = store.config.key_prefix
    if args.json:
        print(json.dumps({"table": store.config.table, **stats.to_json()}, indent=2), file=out)
        return OK
    scope = f" (items of prefix {prefix!r})" if prefix else ""
    print(f"table {store.config.table!r}{scope}", file=out)
    for line in stats.lines():
        print(line, file=out)
    return OK


def cmd_sessions_list(args: argparse.Namespace, out: TextIO) -> int:
    """List a user's stored sessions (storage keys: the ids themselves are never stored)."""
    sessions = store_from_args(args).list_user_sessions(args.user)
    for session in sessions:
        state = "active" if session.active else "expired"
        print(f"{session.key}  {state}  last used {_when(session.accessed)}", file=out)
    print(f"{len(sessions)} session(s) of user {args.user!r}", file=out)
    return OK


def cmd_sessions_revoke(args: argparse.Namespace, out: TextIO) -> int:
    """Log a user out everywhere: delete all their sessions."""
    deleted = store_from_args(args).revoke_user(args.user)
    print(f"revoked {deleted} session(s) of user {args.user!r}", file=out)
    return OK


def cmd_sessions_end(args: argparse.Namespace, out: TextIO) -> int:
    """End one of a user's sessions, named by the key `sessions list` shows."""
    if store_from_args(args).end_user_session(args.user, args.session):
        print(f"ended session {args.session} of user {args.user!r}", file=out)
        return OK
    print(f"no session {args.session} of user {args.user!r}", file=out)
    return PROBLEM


P = TypeVar("P")


class _ProgressLine(Generic[P]):
    """A one-line progress display on a terminal (rewritten in place with a carriage return)."""

    def __init__(self, stream: TextIO, render: Callable[[P], str]) -> None:
        self.stream = stream
        self.render = render

    def __call__(self, total: P) -> None:
        self.stream.write("\r" + self.render(total))
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _progress_line(out: TextIO, render: Callable[[P], str]) -> _ProgressLine[P] | None:
    """A progress line on stderr when it is a terminal and the result goes to stdout (so a
    script or a log file never gets carriage returns); else none."""
    if sys.stderr.isatty() and out is sys.stdout:
        return _ProgressLine(sys.stderr, render)
    return None


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = width * done // max(total, 1)
    return f"[{'#' * filled}{'-' * (width - filled)}] segments {done}/{total}"


def _gc_progress(total: GCReport) -> str:
    return (
        f"{_bar(total.segments_done, total.segments)}  scanned {total.scanned}  "
        f"expired {total.expired}  deleted {total.deleted}"
    )


def _scan_progress(total: ScanProgress) -> str:
    return f"{_bar(total.segments_done, total.segments)}  scanned {total.scanned}"


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def cmd_iam_policy(args: argparse.Namespace, out: TextIO) -> int:
    """Print the least-privilege IAM policy for the table (JSON)."""

    from . import config as env_names
    from .iam import iam_policy

    table = args.table or os.environ.get(env_names.TABLE_ENV)
    if not table:
        raise ConfigurationError(f"name the table: --table or {env_names.TABLE_ENV}")
    region = args.region or next(
        (os.environ[n] for n in env_names.REGION_ENVS if os.environ.get(n)), "*"
    )
    policy = iam_policy(
        table,
        region=region,
        account=args.account,
        user_index=None if args.no_user_index else StoreConfig.user_index,
        gc=args.with_gc,
        admin=args.with_admin,
    )
    print(json.dumps(policy, indent=2), file=out)
    return OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the demo web app (on the embedded local engine unless one is configured)."""
    from .demo import serve

    return serve(host=args.host, port=args.port, out=out)


def cmd_local(args: argparse.Namespace, out: TextIO) -> int:
    """Run the embedded local engine on 127.0.0.1 with the table made; print the environment."""
    from .local import serve_local

    return serve_local(port=args.port, table=args.table, out=out)


def _command(
    parent: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Command,
    summary: str,
    *,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Add sub-command ``name`` run by ``handler``; its ``--help`` description is the
    handler's docstring, so no command can lack one."""
    parser = parent.add_parser(
        name, parents=list(parents), help=summary, description=(handler.__doc__ or "").strip()
    )
    parser.set_defaults(handler=handler)
    return parser


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

    create = _command(
        sub,
        "create-table",
        cmd_create_table,
        "create the session table (idempotent), TTL on",
        parents=[common],
    )
    create.add_argument("--read-capacity", type=int, help="provisioned RCUs (default on-demand)")
    create.add_argument("--write-capacity", type=int, help="provisioned WCUs (default on-demand)")
    create.add_argument("--wait", type=float, default=300.0, help="seconds to wait for ACTIVE")

    _command(sub, "check", cmd_check, "check the table is fit for sessions", parents=[common])

    gc = _command(sub, "gc", cmd_gc, "delete expired sessions (any engine)", parents=[common])
    gc.add_argument("--segments", type=int, default=4, help="parallel scan segments (4)")
    gc.add_argument("--dry-run", action="store_true", help="count expired items, delete none")
    gc.add_argument(
        "--margin",
        type=int,
        default=None,
        metavar="SECONDS",
        help="items expired longer ago than this are deleted in batches, unconditionally; "
        "more recent ones one by one, only if still expired (default "
        f"{GC_MARGIN_ENV} or {GC_MARGIN} s)",
    )
    gc.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="record progress in FILE after each page; if FILE exists, go on from where it "
        "says (a run that stopped resumes); removed when the run completes",
    )
    gc.add_argument(
        "--page-size", type=int, default=None, help="items each Scan call reads at most"
    )

    stats = _command(
        sub, "stats", cmd_stats, "count sessions, expired ones, sizes, users", parents=[common]
    )
    stats.add_argument("--segments", type=int, default=4, help="parallel scan segments (4)")
    stats.add_argument("--json", action="store_true", help="print one JSON object (scripts)")

    sessions = sub.add_parser(
        "sessions",
        help="a user's sessions: list, end one, or log out everywhere",
        description="A user's stored sessions (by the user index): list them, end one, or "
        "revoke them all to log the user out everywhere.",
    )
    actions = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = _command(
        actions, "list", cmd_sessions_list, "list a user's sessions", parents=[common]
    )
    listing.add_argument("--user", required=True, help="the user id the sessions carry")
    revoke = _command(
        actions, "revoke", cmd_sessions_revoke, "revoke all of a user's sessions", parents=[common]
    )
    revoke.add_argument("--user", required=True, help="the user id the sessions carry")
    end = _command(
        actions, "end", cmd_sessions_end, "end one of a user's sessions", parents=[common]
    )
    end.add_argument("--user", required=True, help="the user id the session carries")
    end.add_argument("--session", required=True, help="the session's key, as `list` shows it")

    iam = _command(sub, "iam-policy", cmd_iam_policy, "print the least-privilege IAM policy (JSON)")
    iam.add_argument("--table", help="table name (default: $AWS_DYNAMODB_SESSION_TABLE)")
    iam.add_argument("--region", help="region in the ARNs (default: $AWS_REGION_NAME, else *)")
    iam.add_argument("--account", default="*", help="AWS account id in the ARNs (default *)")
    iam.add_argument(
        "--with-gc", action="store_true", help="add Scan, for `gc` / clearsessions / `stats`"
    )
    iam.add_argument(
        "--with-admin", action="store_true", help="add what `create-table` and `check` call"
    )
    iam.add_argument(
        "--no-user-index", action="store_true", help="leave out Query on the user index"
    )

    demo = _command(sub, "demo", cmd_demo, "run a demo web app on an embedded local engine")
    demo.add_argument("--host", default="127.0.0.1", help="address to serve on (loopback)")
    demo.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")

    local = _command(
        sub,
        "local",
        cmd_local,
        "run the embedded local engine for development (prints what to export)",
    )
    local.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free)")
    local.add_argument("--table", default=LOCAL_TABLE, help=f"table to create ({LOCAL_TABLE})")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    stream = out or sys.stdout
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args, stream)
    except SessionError as exc:
        code, message = explain(exc, args)
        print(message, file=sys.stderr)
        return code


def explain(exc: SessionError, args: argparse.Namespace) -> tuple[int, str]:
    """The exit code and the message for a command that failed with ``exc``."""
    if _caused_by(exc, (NoCredentialsError, PartialCredentialsError)):
        return USAGE, (
            f"configuration error: no AWS credentials: set {ACCESS_KEY_ENV} and "
            f"{SECRET_KEY_ENV}, or give botocore's default credential chain some "
            "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in ~/.aws, an IAM role) "
            f"[{exc}]"
        )
    if isinstance(exc, ConfigurationError):
        return USAGE, f"configuration error: {exc}"
    if isinstance(exc, TableNotFoundError):
        table = getattr(args, "table", None) or os.environ.get(TABLE_ENV, "")
        return USAGE, (
            f"configuration error: the table {table!r} does not exist here: create it with "
            f"`dynamodb-sessions create-table` (or name another with --table or {TABLE_ENV})"
        )
    if isinstance(exc, BackendUnavailableError):
        return UNREACHABLE, f"DynamoDB could not be reached: {exc}"
    if isinstance(exc, BackendError):
        return PROBLEM, f"DynamoDB refused the request: {exc}"
    return PROBLEM, f"error: {exc}"


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

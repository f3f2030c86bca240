"""An embedded DynamoDB-compatible engine for the demo and for trying things out.

It is moto's server mode, run in this process on a loopback address and a free port. It keeps
everything in memory, needs no AWS account, and never deletes items by TTL (which is why every
read checks expiry itself). Install it with the ``local`` extra:
``pip install "dynamodb-sessions[local]"``.

moto's backend is not thread-safe: two conditional writes that arrive at once can both pass
their condition. The engine therefore handles one DynamoDB call at a time (each takes about a
millisecond), so its conditional writes are atomic, as DynamoDB's are, and the demo's
concurrent requests show the library's merging rather than the engine's race.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TextIO

from .exceptions import ConfigurationError

# The engine accepts any keys; these keep botocore from looking for real credentials.
LOCAL_CREDENTIALS = {"access_key": "local", "secret_key": "local", "region": "us-east-1"}


# Connections waiting to be accepted: a burst of concurrent requests must queue, not be refused.
LISTEN_BACKLOG = 128


@contextmanager
def local_engine(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's server on ``host`` (loopback by default; port 0 picks a free port).

    Yields the endpoint URL; the server stops when the block ends. Raises :class:`OSError`
    when the port is taken.
    """
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError:
        raise ConfigurationError(
            'the local engine needs moto\'s server: pip install "dynamodb-sessions[local]"'
        ) from None
    # moto's request handler logs every call through werkzeug's logger; the demo's own
    # output is more useful without a line per DynamoDB call.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
    # The socket is bound here: werkzeug, binding it itself, answers a taken port with
    # sys.exit(1), where a caller should get the OSError.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG) as listener:
        server = make_server(
            host,
            listener.getsockname()[1],
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=listener.fileno(),  # werkzeug serves a duplicate of it
        )
    thread = threading.Thread(target=server.serve_forever, name="local-engine", daemon=True)
    thread.start()
    try:
        yield f"http://{_url_host(host)}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _OneAtATime:
    """A WSGI app that runs the app it wraps for one request at a time (body included)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            body = self.app(environ, start_response)
            try:
                return list(body)
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


LOCAL_TABLE = "sessions"


def serve_local(port: int = 8000, table: str = LOCAL_TABLE, out: TextIO | None = None) -> int:
    """``dynamodb-sessions local``: run the embedded engine on 127.0.0.1 until interrupted.

    Creates ``table`` (with TTL and the user index, as ``create-table`` does), prints the
    ``export`` lines that point an application at it, and serves until Ctrl-C (or SIGTERM).
    Everything is in memory: stopping the engine forgets every session. Returns the exit code.
    """
    from .config import Connection, StoreConfig
    from .store import SessionStore

    # SIGTERM (a process manager, `kill`) stops it as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        try:
            endpoint = stack.enter_context(local_engine(port=port))
        except OSError as exc:  # the port is taken
            print(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} "
                "(--port 0 picks a free port)",
                file=sys.stderr,
            )
            return 2
        connection = Connection(endpoint_url=endpoint, **LOCAL_CREDENTIALS)  # type: ignore[arg-type]
        with SessionStore(StoreConfig(table=table, connection=connection)) as store:
            report = store.create_table(wait_seconds=30)
        if not report.ok:  # pragma: no cover - the embedded engine makes fit tables
            print(f"the table is not usable: {'; '.join(report.problems)}", file=sys.stderr)
            return 1
        for name, value in local_environment(endpoint, table).items():
            print(f"export {name}={shlex.quote(value)}", file=out)
        print(
            f"# table {table!r} on the embedded engine at {endpoint} (in memory); Ctrl-C stops it",
            file=out,
            flush=True,
        )
        try:
            threading.Event().wait()  # the engine serves from its own thread
        except KeyboardInterrupt:
            # A second Ctrl-C while the engine shuts down would only leave a traceback behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    print("# stopped", file=out, flush=True)
    return 0


def local_environment(endpoint: str, table: str = LOCAL_TABLE) -> dict[str, str]:
    """The environment names (:mod:`dynamodb_sessions.config`) that point at a local engine."""
    from . import config as names

    return {
        names.TABLE_ENV: table,
        names.ENDPOINT_ENVS[0]: endpoint,
        names.REGION_ENVS[0]: LOCAL_CREDENTIALS["region"],
        names.ACCESS_KEY_ENV: LOCAL_CREDENTIALS["access_key"],
        names.SECRET_KEY_ENV: LOCAL_CREDENTIALS["secret_key"],
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


DYNALITE_PACKAGE = "dynalite@4.0.0"


@contextmanager
def dynalite_engine(cli: str | os.PathLike[str], *, start_seconds: float = 15.0) -> Iterator[str]:
    """Run dynalite (npm ``dynalite``, a LevelDB-based DynamoDB-API server) on 127.0.0.1.

    ``cli`` is its ``cli.js`` (``npm install --prefix .tools dynalite@4.0.0`` puts it at
    ``.tools/node_modules/dynalite/cli.js``). Unlike moto it validates requests strictly,
    enforces the exact 400 KB item limit and keeps conditional writes atomic under concurrency,
    which is why the tests and benchmarks use it; it has no UpdateTimeToLive. Yields the
    endpoint URL; the process is stopped when the block ends. Used by the test suite and the
    benchmarks, not by the library itself.
    """
    node = shutil.which("node")
    if node is None or not os.path.exists(cli):
        raise ConfigurationError(
            f"dynalite needs Node.js on PATH and {cli} (npm install --prefix .tools "
            f"{DYNALITE_PACKAGE})"
        )
    port = _free_loopback_port()  # dynalite's --port 0 does not pick a free port
    # The node binary itself (npx would leave the server behind when stopped); the *Ms flags
    # make table changes instant instead of a waiter sleeping 20 s.
    command = [node, os.fspath(cli), "--host", "127.0.0.1", "--port", str(port)]
    for flag in ("--createTableMs", "--deleteTableMs", "--updateTableMs"):
        command += [flag, "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_listening(port, process, start_seconds)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dynalite exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dynalite did not listen on 127.0.0.1:{port} within {seconds} s")

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
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .exceptions import ConfigurationError

# The engine accepts any keys; these keep botocore from looking for real credentials.
LOCAL_CREDENTIALS = {"access_key": "local", "secret_key": "local", "region": "us-east-1"}


@contextmanager
def local_engine(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's server on ``host`` (loopback by default; port 0 picks a free port).

    Yields the endpoint URL; the server stops when the block ends.
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
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


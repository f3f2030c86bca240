"""An embedded DynamoDB-compatible engine for the demo and for trying things out.

It is moto's server mode, run in this process on a loopback address and a free port. It keeps
everything in memory, needs no AWS account, and never deletes items by TTL (which is why every
read checks expiry itself). Install it with the ``local`` extra:
``pip install "dynamodb-sessions[local]"``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from .exceptions import ConfigurationError

# The engine accepts any keys; these keep botocore from looking for real credentials.
LOCAL_CREDENTIALS = {"access_key": "local", "secret_key": "local", "region": "us-east-1"}


@contextmanager
def local_engine(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's server on ``host`` (loopback by default; port 0 picks a free port).

    Yields the endpoint URL; the server stops when the block ends.
    """
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise ConfigurationError(
            'the local engine needs moto\'s server: pip install "dynamodb-sessions[local]"'
        ) from None
    # moto's request handler logs every call through werkzeug's logger; the demo's own
    # output is more useful without a line per DynamoDB call.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        yield f"http://{_url_host(bound_host)}:{bound_port}"
    finally:
        server.stop()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

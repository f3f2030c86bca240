"""Starting the library's long-running commands (``demo``, ``local``) as a user would, from a
terminal: stoppable with Ctrl-C whatever the test runner's own signals are."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interruptible() -> Iterator[None]:
    """Start child processes inside this block with Ctrl-C (SIGINT) at its default.

    A test run started in the background of a non-interactive shell (``./scripts/test &`` in a
    CI script) ignores SIGINT, and an ignored signal stays ignored across ``exec``: the demo it
    starts would then ignore the test's Ctrl-C, and be killed after the test's bound. A signal
    with a handler is reset to its default on ``exec`` instead, so while this block runs the
    runner handles SIGINT as Python does by default. Main thread only, as pytest runs tests.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def start_command(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``python -m dynamodb_sessions *args`` started as a user would from a terminal (see
    :func:`interruptible`), with ``env`` and its output on text pipes."""
    with interruptible():
        return subprocess.Popen(
            [sys.executable, "-m", "dynamodb_sessions", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

"""``dynamodb-sessions local``: the embedded engine run standalone, as a developer runs it (a real
subprocess), used through the environment lines it prints, and stopped with Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator

import pytest
from tests.children import start_command

from dynamodb_sessions import SessionStore, StoreConfig

EXPORT = re.compile(r"^export ([A-Z_]+)=(.*)$")
START_SECONDS = 60.0  # safety bounds: it normally starts in about a second
STOP_SECONDS = 30.0


class Local:
    """A running ``dynamodb-sessions local`` and what it printed before serving."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.process = start_command("local", *args, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")  # end of output

    def exports(self) -> dict[str, str]:
        """The ``export NAME=value`` lines, read up to the line saying it serves."""
        found: dict[str, str] = {}
        while True:
            try:
                line = self.lines.get(timeout=START_SECONDS)
            except queue.Empty:
                pytest.fail(f"`local` printed nothing for {START_SECONDS} s")
            if not line:
                pytest.fail(f"`local` ended before serving: {self.stop()}")
            if match := EXPORT.match(line.strip()):
                (found[match.group(1)],) = shlex.split(match.group(2))
            elif "Ctrl-C" in line:
                return found

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``signum`` (Ctrl-C) unless it ended; the exit code, the rest of its output and
        its error output."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        rest = []
        while (line := self.lines.get(timeout=STOP_SECONDS)) != "":
            rest.append(line)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        with self.process.stderr as stderr:
            err = stderr.read()
        return self.process.returncode, "".join(rest), err


@pytest.fixture
def local() -> Iterator[Local]:
    running = Local("--port", "0", "--table", "dev-sessions")
    yield running
    if running.process.poll() is None:
        running.stop()


def test_local_serves_a_ready_table_at_the_printed_environment_until_ctrl_c(
    local, patient_from_env
):
    env = local.exports()
    assert set(env) == {
        "AWS_DYNAMODB_SESSION_TABLE",
        "AWS_DYNAMODB_ENDPOINT",
        "AWS_REGION_NAME",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
    }
    assert env["AWS_DYNAMODB_SESSION_TABLE"] == "dev-sessions"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env["AWS_DYNAMODB_ENDPOINT"])

    # What an application started with those lines exported does (StoreConfig.from_env, with
    # the fixtures' patient timeouts).
    with SessionStore(StoreConfig.from_env(env, timeout=3600)) as store:
        assert store.check_table().ok  # made, with TTL and the user index: nothing to create
        session = store.load(None)
        session["user"] = "ada"
        store.finish(session)
        assert store.load(session.session_id)["user"] == "ada"

    code, out, err = local.stop()
    assert code == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_local_says_when_its_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        running = Local("--port", str(taken.getsockname()[1]))
        running.process.wait(timeout=START_SECONDS)  # it ends by itself
        code, _, err = running.stop()
    assert code == 2
    assert "--port 0" in err and "Traceback" not in err

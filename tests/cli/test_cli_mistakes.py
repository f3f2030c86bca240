"""Every mistake an operator makes with the command line gets a clear message and exit code,
never a traceback: against real engines, by ``main(argv)`` and as a real subprocess."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pytest

from dynamodb_sessions import ConfigurationError, Connection, SessionStore, StoreConfig
from dynamodb_sessions.cli import build_parser, main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_an_endpoint_without_a_scheme_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "t")
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", "localhost:8000")
    done = subprocess.run(
        [sys.executable, "-m", "dynamodb_sessions", "check"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "'localhost:8000'" in done.stderr and "http://localhost:8000" in done.stderr


@pytest.mark.parametrize("url", ["localhost:8000", "127.0.0.1:8000", "ftp://host", "http://"])
def test_every_entry_point_refuses_an_endpoint_it_cannot_use(url):
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        Connection(endpoint_url=url)
    with pytest.raises(ConfigurationError):
        StoreConfig.from_env({"AWS_DYNAMODB_SESSION_TABLE": "t", "AWS_DYNAMODB_ENDPOINT": url})
    assert Connection(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com").endpoint_url


def test_missing_credentials_name_the_credential_chain(env, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY")
    monkeypatch.delenv("AWS_SECRET_KEY")
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials" in err and "AWS_ACCESS_KEY" in err
    assert "credential chain" in err and "could not be reached" not in err


def test_a_missing_table_is_named_with_the_create_table_hint(env, capsys):
    for command in (
        ["gc"],
        ["sessions", "list", "--user", "u"],
        ["sessions", "revoke", "--user", "u"],
    ):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert f"the table {env!r} does not exist" in err
        assert "dynamodb-sessions create-table" in err


def test_commands_that_need_no_timeout_accept_any_valid_gc_lifetime(env, monkeypatch):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_LIFETIME", "3600")  # an hour: under the 14-day default
    code, out = run("create-table")
    assert code == 0, out
    assert run("check")[0] == 0
    code, out = run("gc", "--segments", "2")
    assert code == 0 and "0 expired" in out
    assert run("sessions", "list", "--user", "u") == (0, "0 session(s) of user 'u'\n")
    assert run("sessions", "revoke", "--user", "u")[0] == 0
    # The lifetime still reaches what writes sessions, where the timeout must fit under it.
    with pytest.raises(ConfigurationError, match="shorter than the session timeout"):
        SessionStore.from_env()
    assert SessionStore.from_env(timeout=1800).config.effective_gc_lifetime == 3600


def test_a_malformed_gc_lifetime_is_still_refused(env, monkeypatch, capsys):
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_LIFETIME", "an hour")
    assert main(["gc"]) == 2
    assert "AWS_DYNAMODB_SESSION_LIFETIME" in capsys.readouterr().err


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (sub-)command of ``parser``, as the argv path that reaches it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from commands(child, (*path, name))


def test_every_sub_command_help_has_a_description(capsys):
    found = list(commands(build_parser()))
    assert {path for path, _ in found} >= {("gc",), ("check",), ("sessions", "list")}
    for path, _ in found:
        with pytest.raises(SystemExit) as leaving:
            main([*path, "--help"])
        assert leaving.value.code == 0
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        description = rest.split("\n\n")[0]
        assert usage.startswith("usage:") and description.strip(), path
        assert not description.startswith(("options:", "positional")), path

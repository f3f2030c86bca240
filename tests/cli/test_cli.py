"""The command line, against real local engines; the demo as a real subprocess."""

import http.cookiejar
import io
import os
import re
import signal
import urllib.request

import pytest
from tests.children import start_command

from dynamodb_sessions.cli import main


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_create_table_then_check(env, engine):
    code, out = run("check")
    assert code == 1 and "table does not exist" in out
    code, out = run("create-table")
    assert code == 0 and "created" in out and "ok: the table is ready" in out
    code, out = run("create-table")  # idempotent
    assert code == 0 and "exists" in out
    code, out = run("check")
    assert code == 0
    if engine.name == "dynalite":
        assert "cannot turn TTL on" not in out and "TTL: DISABLED" in out
    else:
        assert "TTL: ENABLED on 'expires'" in out


@pytest.mark.engines("dynalite", reason="moto has UpdateTimeToLive")
def test_create_table_says_when_the_engine_lacks_ttl(env):
    code, out = run("create-table")
    assert code == 0 and "cannot turn TTL on" in out


def test_options_override_the_environment(env, engine):
    code, out = run("create-table", "--table", "named-on-the-command-line")
    assert code == 0 and "'named-on-the-command-line'" in out


def test_configuration_errors_exit_2(monkeypatch, capsys):
    assert main(["check"]) == 2
    assert "AWS_DYNAMODB_SESSION_TABLE" in capsys.readouterr().err
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "t")
    monkeypatch.setenv("AWS_ACCESS_KEY", "only-half")
    assert main(["check"]) == 2
    assert "AWS_SECRET_KEY" in capsys.readouterr().err


def test_unreachable_engine_exits_3(monkeypatch, capsys):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", "t")
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", f"http://127.0.0.1:{port}")
    assert main(["check"]) == 2  # no credentials: a configuration error, not an outage
    assert "no AWS credentials" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_SECRET_KEY", "x")
    assert main(["check"]) == 3
    assert "EndpointConnectionError" in capsys.readouterr().err


def test_provisioned_capacity_needs_both_numbers(env):
    code, _ = run("create-table", "--read-capacity", "5")
    assert code == 2


def test_the_demo_serves_counts_and_stops_on_ctrl_c():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_DYNAMODB")}
    process = start_command("demo", "--port", "0", env=env)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, line
        url = match.group(0)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        pages = [opener.open(url, timeout=10).read().decode() for _ in range(3)]
        assert 'id="visits">3<' in pages[-1]
        form = b"key=colour&value=teal"
        page = opener.open(url + "set", data=form, timeout=10).read().decode()
        assert "colour" in page and "teal" in page
        page = opener.open(url + "clear", data=b"", timeout=10).read().decode()
        assert 'id="visits">1<' in page and "teal" not in page
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err

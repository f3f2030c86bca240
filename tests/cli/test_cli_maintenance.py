"""`dynamodb-sessions gc` and `dynamodb-sessions sessions list|end|revoke` against real engines."""

import io

import pytest

from dynamodb_sessions import SessionStore
from dynamodb_sessions.cli import main
from dynamodb_sessions.ids import storage_key


@pytest.fixture
def env(env):
    """The CLI environment (conftest's), with its table made by the CLI."""
    code, out = run("create-table")
    assert code == 0, out
    assert "user index 'user_id-index': ACTIVE" in out


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def sessions(store, count, user=None):
    ids = []
    for _ in range(count):
        session = store.load(None)
        session["n"] = 1
        session.user_id = user
        store.finish(session)
        ids.append(session.session_id)
    return ids


def test_gc_dry_run_then_collect(env):
    past = SessionStore(SessionStore.from_env().config, clock=lambda: 1_000_000_000.0)
    sessions(past, 3)  # expired long ago
    sessions(SessionStore.from_env(), 2)
    code, out = run("gc", "--dry-run", "--segments", "2")
    assert code == 0 and "dry run" in out and "3 expired" in out
    code, out = run("gc")
    assert code == 0 and "3 expired, 3 deleted, 0 kept" in out
    assert "3 of the deletes in batches" in out  # expired long before the margin
    code, out = run("gc")
    assert code == 0 and "0 expired" in out


def test_gc_goes_on_from_its_checkpoint_file_and_removes_it(env, tmp_path):
    table = SessionStore.from_env().config.table
    past = SessionStore(SessionStore.from_env().config, clock=lambda: 1_000_000_000.0)
    sessions(past, 2)
    checkpoint = tmp_path / "gc.json"
    checkpoint.write_text(f'{{"table": "{table}", "segments": 1, "done": [0], "next": {{}}}}')
    code, out = run("gc", "--checkpoint", str(checkpoint))  # a run that had finished its work
    assert code == 0 and "resuming" in out and "1/1 segments done" in out
    assert "scanned 0 items" in out and not checkpoint.exists()
    code, out = run("gc", "--checkpoint", str(checkpoint), "--margin", "600")  # afresh
    assert code == 0 and "2 deleted" in out and not checkpoint.exists()


def test_gc_refuses_a_short_margin_and_a_checkpoint_of_another_table(env, tmp_path):
    code, _ = run("gc", "--margin", "59")
    assert code == 2
    checkpoint = tmp_path / "gc.json"
    checkpoint.write_text('{"table": "other", "segments": 1, "done": [], "next": {}}')
    code, _ = run("gc", "--checkpoint", str(checkpoint))
    assert code == 2 and checkpoint.exists()


def test_list_and_revoke_a_users_sessions(env):
    store = SessionStore.from_env()
    dave = sessions(store, 2, user="dave")
    sessions(store, 1, user="erin")
    code, out = run("sessions", "list", "--user", "dave")
    assert code == 0 and "2 session(s) of user 'dave'" in out and out.count("active") == 2
    code, out = run("sessions", "revoke", "--user", "dave")
    assert code == 0 and "revoked 2 session(s)" in out
    assert all(store.load(sid).is_new for sid in dave)
    code, out = run("sessions", "list", "--user", "erin")
    assert "1 session(s)" in out


def test_end_one_of_a_users_sessions(env):
    store = SessionStore.from_env()
    first, second = sessions(store, 2, user="dave")
    code, out = run("sessions", "list", "--user", "dave")
    key = storage_key(first)
    assert key in out and first not in out
    code, out = run("sessions", "end", "--user", "dave", "--session", key)
    assert code == 0 and f"ended session {key} of user 'dave'" in out
    assert store.load(first).is_new and not store.load(second).is_new
    code, out = run("sessions", "end", "--user", "dave", "--session", key)
    assert code == 1 and "no session" in out


def test_a_bad_segment_count_is_a_usage_error(env):
    code, _ = run("gc", "--segments", "0")
    assert code == 2

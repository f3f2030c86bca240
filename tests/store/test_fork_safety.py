"""Worker processes forked from a parent that already used the store (gunicorn ``--preload``,
uWSGI, multiprocessing): each worker must talk to DynamoDB over connections of its own, and an
answer about another session's item must never be read as this one's."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from dynamodb_sessions import BackendUnavailableError, ConfigurationError, SessionStore
from dynamodb_sessions.ids import new_session_id
from faults.proxy import FaultProxy

WORKERS = 4
LOADS = 300

# Python 3.12+ warns when a process with threads forks (the session's moto engine runs in
# threads); forking is the point of these tests, and the children only use their own store.
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"
)


def worker(store: SessionStore, session_id: str, owner: int, inherited: int, results) -> None:
    """Load this worker's own session ``LOADS`` times; report how often it came back as
    another worker's data (foreign), empty, or failed, and whether the transport it used is
    the parent's (``inherited``: its ``id``, the same object's in a forked child)."""
    foreign = empty = failed = 0
    for _ in range(LOADS):
        try:
            session = store.load(session_id)
        except BackendUnavailableError:
            failed += 1
            continue
        if session.is_new:
            empty += 1
        elif session["owner"] != owner:
            foreign += 1
    results.put((owner, foreign, empty, failed, id(store.transport) == inherited))


@pytest.mark.engines("dynalite", reason="the workers' loads run concurrently")
def test_workers_forked_after_the_parent_used_the_store_never_read_each_others_sessions(store):
    ids = []
    for owner in range(WORKERS):
        session = store.load(None)
        session["owner"] = owner
        store.finish(session)
        ids.append(session.session_id)
    assert store.load(ids[0])["owner"] == 0  # the parent holds an open, used connection now
    assert store.transport is not None  # the default, lean: its pool is what children inherit

    fork = multiprocessing.get_context("fork")
    results = fork.SimpleQueue()
    workers = [
        fork.Process(target=worker, args=(store, ids[owner], owner, id(store.transport), results))
        for owner in range(WORKERS)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [process.exitcode for process in workers] == [0] * WORKERS
    reports = sorted(results.get() for _ in range(WORKERS))
    assert reports == [(owner, 0, 0, 0, False) for owner in range(WORKERS)]
    assert store.load(ids[1])["owner"] == 1  # the parent's own client still works


def test_an_injected_client_is_refused_in_a_forked_child(store, config):
    injected = SessionStore(config, client=store.client)
    assert injected.exists(new_session_id()) is False
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what using the parent's client did, then leave at once
        try:
            injected.exists(new_session_id())
            answer = b"used"
        except ConfigurationError as exc:
            answer = b"refused" if b"belongs to process" in str(exc).encode() else b"other"
        except BaseException:  # anything else is a failure to report
            answer = b"crashed"
        os.write(write, answer)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0
    assert answer == b"refused"
    assert injected.exists(new_session_id()) is False  # still the caller's in the parent


def test_an_answer_about_another_item_is_a_fault_never_data(engine, config, store):
    """A proxy answers each GetItem with the previous GetItem's answer (what a connection
    shared by two processes does): the load fails as unavailable, it never returns the other
    session's data and never an empty new session."""
    alice, bob = store.load(None), store.load(None)
    alice["name"], bob["name"] = "alice", "bob"
    store.finish(alice)
    store.finish(bob)
    with FaultProxy(engine.endpoint) as proxy:
        connection = config.connection.__class__(
            **{**vars(config.connection), "endpoint_url": proxy.endpoint, "max_attempts": 1}
        )
        swapped = SessionStore(config.replace(connection=connection))
        assert swapped.load(alice.session_id)["name"] == "alice"
        proxy.rule("replay", "GetItem")
        with pytest.raises(BackendUnavailableError) as caught:
            swapped.load(bob.session_id)  # answered with alice's item
        assert caught.value.code == "ForeignItem"
        swapped.close()

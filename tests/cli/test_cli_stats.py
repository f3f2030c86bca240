"""`dynamodb-sessions stats` against real engines: exact counts of a known population, the same
from the async store, and nothing that names a session, an item or a user in the output."""

import asyncio
import base64
import io
import json
import math
import time

import pytest

from dynamodb_sessions import AsyncSessionStore, SessionStore
from dynamodb_sessions._core import requests, users
from dynamodb_sessions._core.items import item_size
from dynamodb_sessions.cli import main
from dynamodb_sessions.ids import storage_key

PAST = 1_000_000_000.0  # sessions made then expired long ago
KEY = base64.b64encode(bytes(range(32))).decode()


def run(*argv):
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def new_session(store, user=None, **data):
    session = store.load(None)
    session.update(data)
    session.user_id = user
    store.finish(session)
    return session.session_id


@pytest.fixture
def population(env):
    """A table of known items: plain, compressed, encrypted, expired, several users' sessions,
    and a revocation mark. Returns what the test must find, and what it must never see."""
    assert run("create-table")[0] == 0
    store = SessionStore.from_env()
    # One client for the three stores: a client costs more to make than the items.
    past = SessionStore(store.config, client=store.client, clock=lambda: PAST)
    sealed = SessionStore(store.config.replace(encryption_keys=(KEY,)), client=store.client)
    ids = [
        new_session(store, "zoe", n=1),
        new_session(store, "zoe", n=2),
        new_session(store, "quinn", text="x" * 5000),  # compressed
        new_session(sealed, card="4111"),  # encrypted
        new_session(past, "zoe", n=3),  # expired, still present
        new_session(past, n=4),  # expired
    ]
    mark = users.revocation_key(store.config, "yves")  # "log out everywhere" of a user
    store.client.update_item(
        **requests.mark_revoked(store.config, mark, until=PAST, expires=int(PAST))
    )
    keys = [storage_key(sid) for sid in ids]
    sizes = sorted(
        item_size(store.client.get_item(TableName=env, Key={"id": {"S": k}})["Item"]) for k in keys
    )
    expires = int(PAST) + store.config.timeout
    secrets = [*ids, *keys, mark, "zoe", "quinn", "yves"]
    return sizes, expires, secrets


def nearest_rank(sizes, p):
    return sizes[math.ceil(p / 100 * len(sizes)) - 1]


def test_stats_counts_a_known_population_exactly(population, env):
    sizes, expires, secrets = population
    before = int(time.time())
    code, out = run("stats", "--json", "--segments", "3")
    after = int(time.time())
    assert code == 0, out
    shown = json.loads(out)
    lag = shown.pop("oldest_expired_seconds")
    assert before - expires <= lag <= after - expires
    assert shown == {
        "table": env,
        "segments": 3,
        "scanned": 7,
        "sessions": 6,
        "expired": 2,
        "revocation_marks": 1,
        "size_bytes": {
            "p50": nearest_rank(sizes, 50),
            "p90": nearest_rank(sizes, 90),
            "p99": nearest_rank(sizes, 99),
            "max": sizes[-1],
        },
        "compressed": 1,
        "compressed_share": round(1 / 6, 4),
        "encrypted": 1,
        "encrypted_share": round(1 / 6, 4),
        "users": 2,
        "sessions_with_user": 4,
        "sessions_per_user": {"1": 1, "3": 1},  # quinn has 1, zoe 3
    }
    assert not [secret for secret in secrets if secret in out]


def test_stats_for_people_names_no_session_item_or_user(population, env):
    sizes, _, secrets = population
    code, out = run("stats")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"table {env!r}"
    assert lines[1] == "sessions: 6 (scanned 7 items in 4 segments)"
    assert lines[2].startswith("expired but still present: 2 (the oldest expired ")
    assert lines[3] == (
        f"item size (bytes): p50 {nearest_rank(sizes, 50)}, p90 {nearest_rank(sizes, 90)}, "
        f"p99 {nearest_rank(sizes, 99)}, max {sizes[-1]}"
    )
    assert lines[4] == "compressed: 1 (16.7%), encrypted: 1 (16.7%)"
    assert lines[5] == "users: 2, with 4 sessions; 2 sessions without a user"
    assert lines[6] == "users by sessions held: 1 with 1, 1 with 3"
    assert lines[7] == "revocation marks: 1"
    assert not [secret for secret in secrets if secret in out]


def test_the_async_store_counts_the_same_and_a_prefix_keeps_to_its_app(population, env):
    config = SessionStore.from_env().config
    at = time.time()
    clock = lambda: at  # noqa: E731 - one fixed reading for both stores
    synced = SessionStore(config, clock=clock).stats(segments=12)  # more than the pool holds
    awaited = asyncio.run(AsyncSessionStore(config, clock=clock).stats(segments=12))
    assert synced == awaited
    assert (synced.sessions, synced.expired, synced.users) == (6, 2, 2)
    assert synced.oldest_expired_seconds == int(at) - population[1]

    shop = SessionStore(config.replace(key_prefix="shop:"))
    new_session(shop, "zoe", n=1)
    only_shop = shop.stats(segments=2)
    assert (only_shop.sessions, only_shop.scanned, only_shop.users) == (1, 8, 1)


def test_an_empty_table_and_a_bad_segment_count(env):
    assert run("create-table")[0] == 0
    code, out = run("stats", "--json")
    assert code == 0 and json.loads(out)["sessions"] == 0
    assert run("stats", "--segments", "0")[0] == 2

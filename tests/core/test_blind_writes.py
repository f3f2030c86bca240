"""Writing without reading (issue 14, item 6): a deferred session that is only given keys records
them, and the end of the request writes them by one UpdateItem and no GetItem, conditional on
what a read would have checked; anything else reads first, as before."""

from __future__ import annotations

import secrets

import pytest
from flowscript import Script

from dynamodb_sessions import Codec, Session, SessionTooLargeError, StoreConfig
from dynamodb_sessions._core import flows, requests
from dynamodb_sessions._core.flows import Failed, encode_values
from dynamodb_sessions._core.items import ValidityBounds, build_item, unread_bounds
from dynamodb_sessions._core.lifecycle import CookieAction, Write, decide
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.ids import new_session_id, storage_key

CONFIG = StoreConfig(table="sessions", timeout=3600, gc_lifetime=7200)
CODEC = Codec()
KEY = "ab" * 32
NOW = 1_800_000_000
CONFLICT = Failed(requests.CONDITION_FAILED)
TOO_LARGE = Failed(requests.INVALID)


def test_a_blind_write_sets_only_its_keys_while_the_item_is_valid_and_answers_with_it():
    params = requests.update_blind(
        CONFIG,
        KEY,
        values={"cart": b"J1", "theme": b"J2"},
        now=200,
        expires=7400,
        bounds=ValidityBounds(now=200, used_after=200 - 3600, born_after=None),
    )
    assert params == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        # The user and a pinned timeout are left alone: the request never read them.
        "UpdateExpression": "SET #a = :now, #e = :expires, #s0 = :s0, #s1 = :s1 ADD #v :one",
        # What a read would have checked: there, valid by the configured idle timeout (so no
        # timeout pinned on the item, which a condition cannot add up), not an item of 0.1.
        "ConditionExpression": (
            "attribute_exists(#k) AND attribute_not_exists(#vp) AND attribute_not_exists(#d)"
            " AND #va > :used_after AND #ve > :valid_at"
        ),
        "ExpressionAttributeNames": {
            "#k": "id",
            "#a": "accessed",
            "#e": "expires",
            "#v": "version",
            "#s0": "s:cart",
            "#s1": "s:theme",
            "#vp": "pinned_timeout",
            "#d": "data",
            "#va": "accessed",
            "#ve": "expires",
        },
        "ExpressionAttributeValues": {
            ":now": {"N": "200"},
            ":expires": {"N": "7400"},
            ":one": {"N": "1"},
            ":s0": {"B": b"J1"},
            ":s1": {"B": b"J2"},
            ":used_after": {"N": str(200 - 3600)},
            ":valid_at": {"N": "200"},
        },
        "ReturnValues": "ALL_NEW",  # the session as it is now, without a read
    }


def test_a_blind_write_holds_the_absolute_timeout_and_the_expression_limits():
    config = CONFIG.replace(absolute_timeout=1000)
    params = requests.update_blind(
        config, KEY, values={"a": b"J1"}, now=200, expires=7400, bounds=unread_bounds(200, config)
    )
    assert params is not None
    assert params["ConditionExpression"].endswith(" AND #vc > :born_after")
    assert params["ExpressionAttributeValues"][":born_after"] == {"N": str(200 - 1000)}
    many = dict.fromkeys((f"k{i}" for i in range(requests.MAX_DELTA_KEYS + 1)), b"J1")
    bounds = unread_bounds(200, config)
    assert (
        requests.update_blind(config, KEY, values=many, now=200, expires=1, bounds=bounds) is None
    )


# -- the session records sets without loading ---------------------------------------------


def stored_session(data: dict, sid: str) -> Session:
    item = build_item(
        storage_key(sid),
        encode_values(CODEC, data, storage_key(sid)),
        now=NOW,
        created=NOW,
        timeout=None,
        version=3,
        user_id=None,
        config=CONFIG,
    )
    return Session(data, session_id=sid, stored=flows.parse_item(item, CONFIG.attributes))


def counting(data: dict, sid: str) -> tuple[Session, list[int]]:
    loads: list[int] = []

    def loader() -> Session:
        loads.append(1)
        return stored_session(dict(data), sid)

    return Session.deferred(loader, session_id=sid), loads


def test_setting_keys_records_them_without_loading():
    sid = new_session_id()
    session, loads = counting({"user": "ada", "cart": [1]}, sid)
    session["cart"] = [2]
    session.update({"theme": "dark"}, lang="en")
    session |= {"n": 1}
    assert loads == [] and not session.is_loaded and session.modified
    assert session.blind_id == sid
    assert session.blind_writes == {"cart": [2], "theme": "dark", "lang": "en", "n": 1}


READS = {
    "get": lambda s: s.get("user"),
    "[]": lambda s: s["user"],
    "in": lambda s: "user" in s,
    "len": len,
    "iter": list,
    "items": lambda s: s.items(),
    "del": lambda s: s.__delitem__("user"),  # raises KeyError if absent: depends on the item
    "pop": lambda s: s.pop("user", None),
    "setdefault": lambda s: s.setdefault("user", "x"),
    "user_id": lambda s: s.user_id,
    "session_id": lambda s: s.session_id,
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_anything_that_depends_on_the_item_loads_and_the_keys_set_win(read):
    sid = new_session_id()
    session, loads = counting({"user": "ada", "cart": [1]}, sid)
    session["cart"] = [2]  # set before the load: this request's, newer than the item's
    session["theme"] = "dark"
    read(session)
    assert loads == [1] and session.is_loaded and session.blind_writes == {}
    assert session.modified and session.session_id == sid
    data = session.to_dict()
    assert data["cart"] == [2] and data["theme"] == "dark"


def test_a_clear_loads_first_and_clears_the_keys_set_too():
    # It answers nothing, but what it replaces is a whole session: a whole-session write,
    # conditional on the version read.
    session, loads = counting({"user": "ada"}, new_session_id())
    session["theme"] = "dark"
    session.clear()
    assert loads == [1] and session.to_dict() == {} and session.cleared


def test_a_cookie_that_names_no_session_loads_for_free_on_the_first_set():
    for cookie in (None, "", "garbage"):
        session = Session.deferred(lambda: Session(stale_cookie=True), session_id=cookie)
        session["a"] = 1
        assert session.is_loaded and session.blind_id is None


def test_after_a_failed_load_a_set_fails_too():
    class Down(Exception):
        pass

    def failing() -> Session:
        raise Down

    session = Session.deferred(failing, session_id=new_session_id())
    session["a"] = 1
    with pytest.raises(Down):
        session.get("a")
    with pytest.raises(Down):
        session["b"] = 2
    assert session.blind_writes == {}
    plan = decide(session, NOW, CONFIG)
    assert plan.write is Write.NONE and plan.cookie is CookieAction.KEEP


def test_the_end_of_a_set_only_request_is_a_blind_write_unless_it_failed():
    session, _ = counting({}, new_session_id())
    assert decide(session, NOW, CONFIG).write is Write.NONE  # untouched
    session["a"] = 1
    plan = decide(session, NOW, CONFIG)
    assert plan.write is Write.BLIND and plan.cookie is CookieAction.SET
    assert decide(session, NOW, CONFIG, failed=True).write is Write.NONE


# -- the flow -----------------------------------------------------------------------------


def item_after(sid: str, data: dict, *, version: int = 4, **overrides: object) -> dict:
    key = storage_key(sid)
    item = build_item(
        key,
        encode_values(CODEC, data, key),
        now=NOW,
        created=NOW - 100,
        timeout=None,
        version=version,
        user_id=None,
        config=CONFIG,
    )
    item.update(overrides)  # type: ignore[arg-type]
    return item


def finish(session: Session, config: StoreConfig = CONFIG) -> Script:
    return Script(flows.finish(config, CODEC, session, NOW), clock=lambda: float(NOW))


def test_a_set_only_request_costs_one_update_and_no_read():
    sid = new_session_id()
    session, loads = counting({"user": "ada"}, sid)
    session["theme"] = "dark"
    script = finish(session)
    update = script.run({"Attributes": item_after(sid, {"user": "ada", "theme": "dark"})})
    assert script.operations == ["update_item"] and loads == []
    key = storage_key(sid)
    assert script.steps[0].params == requests.update_blind(
        CONFIG,
        key,
        values=encode_values(CODEC, {"theme": "dark"}, key),
        now=NOW,
        expires=NOW + 7200,
        bounds=unread_bounds(NOW, CONFIG),
    )
    assert script.steps[0].handles == {requests.CONDITION_FAILED, requests.INVALID}
    assert update.action is CookieAction.SET and update.value == sid and update.max_age == 3600
    # Loaded from the item the update answered with: the whole session, as stored now.
    assert session.is_loaded and session.to_dict() == {"user": "ada", "theme": "dark"}
    assert session.stored is not None and session.stored.version == 4


@pytest.mark.parametrize("gone", ["deleted", "expired"])
def test_a_refused_blind_write_reads_and_starts_a_new_session_with_only_its_keys(gone):
    sid = new_session_id()
    session, loads = counting({}, sid)
    session["theme"] = "dark"
    expired = item_after(sid, {"user": "ada"}, accessed={"N": str(NOW - 3600)})
    script = finish(session)
    update = script.run(CONFLICT, {} if gone == "deleted" else {"Item": expired}, {})
    # No write to the old item: it stays gone (or expired); its keys do not come back.
    assert script.operations == ["update_item", "get_item", "put_item"]
    assert script.steps[1].params["ConsistentRead"] is True
    put = script.steps[2].params
    assert put["ConditionExpression"] == "attribute_not_exists(#k)"
    assert put["Item"]["id"] != {"S": storage_key(sid)}
    assert {name for name in put["Item"] if name.startswith("s:")} == {"s:theme"}
    assert update.action is CookieAction.SET and update.value not in ("", sid)
    assert session.to_dict() == {"theme": "dark"} and loads == []


def test_a_refused_blind_write_on_a_valid_item_reads_and_saves_what_changed():
    sid = new_session_id()
    session, _ = counting({}, sid)
    session["theme"] = "dark"
    pinned = item_after(sid, {"user": "ada", "theme": "light"}, pinned_timeout={"N": "60000"})
    pinned["accessed"] = {"N": str(NOW - 5000)}  # valid by its own timeout only
    script = finish(session)
    update = script.run(CONFLICT, {"Item": pinned}, {})
    assert script.operations == ["update_item", "get_item", "update_item"]
    delta = script.steps[2].params
    assert "attribute_not_exists(#vp)" not in delta["ConditionExpression"]
    assert delta["ExpressionAttributeValues"][":p"] == {"N": "60000"}  # the pin is kept
    assert update.action is CookieAction.SET and update.value == sid
    assert session.to_dict() == {"user": "ada", "theme": "dark"}


def test_an_item_over_dynamodbs_limit_writes_nothing_and_the_size_guard_says_so():
    sid = new_session_id()
    session, _ = counting({}, sid)
    session["more"] = secrets.token_urlsafe(120_000)  # random: compression cannot shrink it
    big = item_after(sid, {"big": secrets.token_urlsafe(300_000)})
    script = finish(session)
    with pytest.raises(SessionTooLargeError):
        script.run(TOO_LARGE, {"Item": big})
    assert script.operations == ["update_item", "get_item"]  # the exact guard, before a write


def test_keys_too_large_on_their_own_raise_before_any_call():
    session, _ = counting({}, new_session_id())
    session["big"] = secrets.token_urlsafe(CONFIG.max_item_bytes)
    script = finish(session)
    with pytest.raises(SessionTooLargeError):
        script.run()
    assert script.steps == []


@pytest.mark.parametrize(
    "config",
    [
        CONFIG.replace(lock=LockSettings()),  # the size guard keeps room for the lock
        CONFIG.replace(max_item_bytes=100_000),  # a guard stricter than DynamoDB's own
    ],
    ids=["lock mode", "max_item_bytes"],
)
def test_where_the_size_guard_needs_the_item_the_session_is_read_first(config):
    sid = new_session_id()
    session, _ = counting({}, sid)
    session["theme"] = "dark"
    script = Script(flows.finish(config, CODEC, session, NOW), clock=lambda: float(NOW))
    if config.lock is None:
        script.run({"Item": item_after(sid, {"user": "ada"})}, {})
        assert script.operations == ["get_item", "update_item"]
    else:
        taken = item_after(sid, {"user": "ada"})
        script.run(lambda steps: {"Attributes": {**taken, **lock_of(steps[0])}}, {})
        assert script.operations == ["update_item", "update_item"]  # acquire, save + release
        assert "#lo = :owner" in script.steps[1].params["ConditionExpression"]
    assert "attribute_not_exists(#vp)" not in script.steps[-1].params["ConditionExpression"]
    assert session.to_dict() == {"user": "ada", "theme": "dark"}


def lock_of(acquire: flows.Call) -> dict:
    values = acquire.params["ExpressionAttributeValues"]
    return {"lock_owner": values[":owner"], "lock_expires": values[":until"]}


def test_a_corrupt_item_takes_the_keys_but_a_new_session_starts_with_them(caplog):
    sid = new_session_id()
    session, _ = counting({}, sid)
    session["theme"] = "dark"
    corrupt = item_after(sid, {"theme": "dark"}, **{"s:user": {"B": b"J{broken"}})
    script = finish(session)
    update = script.run({"Attributes": corrupt}, {})
    assert script.operations == ["update_item", "put_item"]  # as a load of it would have
    assert update.value != sid and session.to_dict() == {"theme": "dark"}
    assert "corrupt" in caplog.text and sid not in caplog.text

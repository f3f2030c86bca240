"""Eventually consistent reads, pure (issue 11, item 8): which reads may be eventually
consistent, and which answers are confirmed by a strongly consistent read."""

from flowscript import Script

from dynamodb_sessions import Codec, Session, StoreConfig
from dynamodb_sessions._core import flows
from dynamodb_sessions._core.flows import Failed, encode_values
from dynamodb_sessions._core.items import build_item, parse_item
from dynamodb_sessions.ids import new_session_id, storage_key

EVENTUAL = StoreConfig(table="t", timeout=100, consistent_read=False)
CODEC = Codec()
CONFLICT = Failed("ConditionalCheckFailedException")


def stored(sid: str, data: dict, *, version: int = 1, now: int = 0) -> dict:
    item = build_item(
        storage_key(sid), encode_values(CODEC, data, ""), now=now, created=now, timeout=100,
        version=version, user_id=None, config=EVENTUAL,
    )  # fmt: skip
    return {"Item": item}


def consistency(script: Script) -> list[bool]:
    return [step.params["ConsistentRead"] for step in script.steps]


def test_a_valid_answer_of_an_eventually_consistent_read_is_used_as_it_is():
    sid = new_session_id()
    script = Script(flows.load(EVENTUAL, CODEC, sid, now=50))
    assert script.run(stored(sid, {"a": 1})) == {"a": 1}
    assert consistency(script) == [False]


def test_a_miss_is_confirmed_by_a_strongly_consistent_read():
    sid = new_session_id()
    script = Script(flows.load(EVENTUAL, CODEC, sid, now=50))
    session = script.run({}, stored(sid, {"a": 1}))
    assert session == {"a": 1} and not session.stale_cookie
    assert consistency(script) == [False, True]


def test_an_expired_looking_copy_is_confirmed_too():
    sid = new_session_id()
    script = Script(flows.load(EVENTUAL, CODEC, sid, now=150))
    session = script.run(stored(sid, {"a": 1}, now=0), stored(sid, {"a": 1}, now=100))
    assert session == {"a": 1}
    assert consistency(script) == [False, True]
    # ...and a confirmed miss ends the session, after exactly two reads.
    gone = Script(flows.load(EVENTUAL, CODEC, sid, now=150))
    assert gone.run({}, {}).stale_cookie and consistency(gone) == [False, True]


def test_exists_confirms_a_miss():
    sid = new_session_id()
    script = Script(flows.exists(EVENTUAL, sid, now=50))
    assert script.run({}, stored(sid, {})) is True


def test_the_re_read_after_a_conflict_is_strongly_consistent():
    sid = new_session_id()
    state = parse_item(stored(sid, {"a": 1})["Item"], EVENTUAL.attributes)
    session = Session({"a": 1}, session_id=sid, stored=state)
    session["b"] = 2
    script = Script(flows.save(EVENTUAL, CODEC, session, now=10))
    script.run(CONFLICT, stored(sid, {"a": 1, "c": 3}, version=2), {})
    (read,) = [step for step in script.steps if step.operation == "get_item"]
    assert read.params["ConsistentRead"] is True

"""Log out everywhere, pure: the user index, its queries and revocation deletes."""

import pytest
from test_flows import Script

from dynamodb_sessions import Session, StoreConfig
from dynamodb_sessions._core import requests, users
from dynamodb_sessions._core.flows import Failed
from dynamodb_sessions._core.items import build_item, parse_item
from dynamodb_sessions._core.lifecycle import Write, decide
from dynamodb_sessions.exceptions import ConfigurationError, SessionRevokedError
from dynamodb_sessions.ids import new_session_id

CONFIG = StoreConfig(table="sessions", timeout=100)
CONFLICT = Failed("ConditionalCheckFailedException")

INDEX = {
    "IndexName": "user_id-index",
    "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "KEYS_ONLY"},
}


def test_create_table_makes_the_user_index():
    assert requests.create_table(CONFIG) == {
        "TableName": "sessions",
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [INDEX],
    }
    provisioned = requests.create_table(CONFIG, read_capacity=7, write_capacity=3)
    assert provisioned["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 7,
        "WriteCapacityUnits": 3,
    }


def test_an_existing_table_gets_the_index_by_update_table():
    assert requests.add_user_index(CONFIG, "user_id-index", None) == {
        "TableName": "sessions",
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexUpdates": [{"Create": INDEX}],
    }


def test_query_and_conditional_delete():
    assert requests.query_user_sessions(CONFIG, "user_id-index", "u1") == {
        "TableName": "sessions",
        "IndexName": "user_id-index",
        "KeyConditionExpression": "#u = :user",
        "ExpressionAttributeNames": {"#u": "user_id"},
        "ExpressionAttributeValues": {":user": {"S": "u1"}},
    }
    prefixed = requests.query_user_sessions(CONFIG.replace(key_prefix="p:"), "i", "u1", {"k": 1})
    assert prefixed["FilterExpression"] == "begins_with(#k, :prefix)"
    assert prefixed["ExclusiveStartKey"] == {"k": 1}
    assert requests.delete_user_session(CONFIG, "k1", "u1") == {
        "TableName": "sessions",
        "Key": {"id": {"S": "k1"}},
        "ConditionExpression": "#u = :user",
        "ExpressionAttributeNames": {"#u": "user_id"},
        "ExpressionAttributeValues": {":user": {"S": "u1"}},
    }


def indexed(key: str, *, accessed: int, expires: int) -> dict:
    return {
        "id": {"S": key},
        "user_id": {"S": "u1"},
        "created": {"N": "0"},
        "accessed": {"N": str(accessed)},
        "timeout": {"N": "100"},
        "expires": {"N": str(expires)},
    }


def test_revoke_marks_the_user_then_sweeps_the_index_twice():
    script = Script(users.revoke(CONFIG, "u1", 150))
    deleted = script.run(
        150.0,  # the clock
        {},  # the mark: log-ins refused while the revocation runs
        {"Items": [indexed("a", accessed=100, expires=200)], "LastEvaluatedKey": {"x": 1}},
        {"Items": [indexed("b", accessed=0, expires=100)]},
        {},
        CONFLICT,  # b went meanwhile (or changed hands): not counted
        151.0,  # after the settling sleep
        151.0,
        {},  # the mark renewed
        {"Items": [indexed("c", accessed=150, expires=250)]},  # logged in during the first sweep
        {},
        151.5,
        {},  # the final mark: log-ins up to the end (and a second after) are refused
    )
    assert deleted == 2
    assert script.operations == [
        "update_item", "query", "query", "delete_item", "delete_item",
        "update_item", "query", "delete_item", "update_item",
    ]  # fmt: skip
    calls = [step for step in script.steps if hasattr(step, "operation")]
    assert calls[3].params == requests.delete_user_session(CONFIG, "a", "u1")
    key = users.revocation_key(CONFIG, "u1")
    assert key.startswith("user#") and "u1" not in key
    first, renewed, final = (c.params for c in calls if c.operation == "update_item")
    assert first["Key"] == {"id": {"S": key}}
    assert first["UpdateExpression"] == "SET #r = :until, #e = :expires"
    assert first["ConditionExpression"] == "attribute_not_exists(#r) OR #r < :until"
    assert first["ExpressionAttributeValues"][":until"] == {"N": "180.000"}  # 150 + HOLD
    assert renewed["ConditionExpression"] == final["ConditionExpression"] == "#r = :ours"
    assert renewed["ExpressionAttributeValues"][":ours"] == {"N": "180.000"}
    assert final["ExpressionAttributeValues"][":until"] == {"N": "152.500"}  # end + AFTER


def test_a_log_in_at_or_before_the_mark_is_undone():
    script = Script(users.confirm_login(CONFIG, "k" * 64, "u1", 152))
    with pytest.raises(SessionRevokedError):
        script.run({"Item": {"revoked": {"N": "152.500"}}}, {})
    assert script.operations == ["get_item", "delete_item"]
    assert script.steps[0].params["ConsistentRead"] is True
    assert script.steps[1].params == requests.delete_user_session(CONFIG, "k" * 64, "u1")
    after = Script(users.confirm_login(CONFIG, "k" * 64, "u1", 153))
    after.run({"Item": {"revoked": {"N": "152.500"}}})  # later: kept, one read
    never = Script(users.confirm_login(CONFIG, "k" * 64, "u1", 153))
    never.run({})


def test_ending_one_session_takes_its_listed_key_and_its_user():
    key = "a" * 64
    script = Script(users.end_session(CONFIG, "u1", key))
    assert script.run({}) is True
    assert script.steps[0].params == requests.delete_user_session(CONFIG, key, "u1")
    assert Script(users.end_session(CONFIG, "u1", key)).run(CONFLICT) is False
    for bad in ("", "x" * 64, "a" * 63, users.revocation_key(CONFIG, "u1"), "sid-itself"):
        script = Script(users.end_session(CONFIG, "u1", bad))
        assert script.run() is False and script.steps == []


def test_listing_reads_each_listed_session_from_the_table():
    script = Script(users.list_sessions(CONFIG, "u1", 150))
    found = script.run(
        {"Items": [{"id": {"S": k}, "user_id": {"S": "u1"}} for k in "abcd"]},  # keys only
        {"Item": indexed("a", accessed=100, expires=200)},
        {"Item": indexed("b", accessed=0, expires=100)},
        {},  # c is gone since the index listed it
        {"Item": {**indexed("d", accessed=100, expires=200), "user_id": {"S": "u2"}}},
    )
    assert [(s.key, s.active) for s in found] == [("a", True), ("b", False)]
    assert script.operations == ["query"] + ["get_item"] * 4
    assert script.steps[1].params == requests.get_listed_session(CONFIG, "a")
    assert script.steps[1].params["ConsistentRead"] is True


def test_without_an_index_revocation_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="user index"):
        next(users.revoke(CONFIG.replace(user_index=None), "u1", 0))


def test_setting_the_user_alone_is_a_change_to_save():
    sid = new_session_id()
    item = build_item(
        "k", {}, now=0, created=0, timeout=100, version=1, user_id=None, config=CONFIG
    )
    session = Session({"a": 1}, session_id=sid, stored=parse_item(item, CONFIG.attributes))
    session.get("a")
    assert decide(session, 1, CONFIG).write is Write.NONE
    session.user_id = "u1"
    assert decide(session, 1, CONFIG).write is Write.SAVE

"""The exact wire requests: a change to what goes to DynamoDB must be deliberate."""

from dynamodb_sessions import StoreConfig
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.items import ValidityBounds, build_item

CONFIG = StoreConfig(table="sessions", timeout=3600, gc_lifetime=7200)
KEY = "ab" * 32


def test_get_is_strongly_consistent_by_default():
    assert requests.get_session(CONFIG, KEY) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "ConsistentRead": True,
    }
    eventual = CONFIG.replace(consistent_read=False)
    assert requests.get_session(eventual, KEY)["ConsistentRead"] is False


def test_create_never_overwrites():
    item = build_item(
        KEY, b"J{}", now=100, created=100, timeout=None, version=1, user_id=None, config=CONFIG
    )
    assert requests.create_session(CONFIG, item) == {
        "TableName": "sessions",
        "Item": {
            "id": {"S": KEY},
            "data": {"B": b"J{}"},
            "expires": {"N": "7300"},
            "accessed": {"N": "100"},
            "created": {"N": "100"},
            "version": {"N": "1"},
        },
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": "id"},
    }


def test_only_a_timeout_pinned_on_the_session_is_stored():
    unpinned = build_item(
        KEY, b"J{}", now=100, created=100, timeout=None, version=1, user_id=None, config=CONFIG
    )
    pinned = build_item(
        KEY, b"J{}", now=100, created=100, timeout=9000, version=1, user_id=None, config=CONFIG
    )
    assert "pinned_timeout" not in unpinned and "timeout" not in unpinned
    assert pinned["pinned_timeout"] == {"N": "9000"}
    assert pinned["expires"] == {"N": str(100 + 9000)}  # never before the session ends


BOUNDS = ValidityBounds(now=200, used_after=200 - 3600, born_after=None)


def test_save_is_an_update_conditional_on_the_version_read_and_on_validity():
    item = build_item(
        KEY, b"J{}", now=200, created=100, timeout=None, version=4, user_id="u1", config=CONFIG
    )
    assert requests.save_session(CONFIG, item, 3, bounds=BOUNDS) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": (
            "SET #a0 = :a0, #a1 = :a1, #a2 = :a2, #a3 = :a3, #a4 = :a4, #a5 = :a5 REMOVE #p, #t"
        ),
        "ConditionExpression": ("#v = :expected AND #va > :used_after AND #ve > :valid_at"),
        "ExpressionAttributeNames": {
            "#a0": "data",
            "#a1": "expires",
            "#a2": "accessed",
            "#a3": "created",
            "#a4": "version",
            "#a5": "user_id",
            "#p": "pinned_timeout",
            "#t": "timeout",
            "#va": "accessed",
            "#ve": "expires",
            "#v": "version",
        },
        "ExpressionAttributeValues": {
            ":a0": {"B": b"J{}"},
            ":a1": {"N": "7400"},
            ":a2": {"N": "200"},
            ":a3": {"N": "100"},
            ":a4": {"N": "4"},
            ":a5": {"S": "u1"},
            ":expected": {"N": "3"},
            ":used_after": {"N": str(200 - 3600)},
            ":valid_at": {"N": "200"},
        },
    }


def test_with_an_absolute_timeout_a_write_also_requires_the_session_young_enough():
    bounds = ValidityBounds(now=200, used_after=-3400, born_after=200 - 1000)
    item = build_item(
        KEY, b"J{}", now=200, created=100, timeout=None, version=2, user_id=None, config=CONFIG
    )
    for params in (
        requests.save_session(CONFIG, item, 1, bounds=bounds),
        requests.touch_session(
            CONFIG, KEY, now=200, expires=7400, expected_version=1, bounds=bounds
        ),
        requests.delete_emptied(CONFIG, KEY, 1, bounds=bounds),
    ):
        assert params["ConditionExpression"].endswith(" AND #vc > :born_after")
        assert params["ExpressionAttributeNames"]["#vc"] == "created"
        assert params["ExpressionAttributeValues"][":born_after"] == {"N": "-800"}


def test_save_without_a_user_or_a_pinned_timeout_removes_stale_ones():
    item = build_item(
        KEY, b"J{}", now=200, created=100, timeout=None, version=2, user_id=None, config=CONFIG
    )
    params = requests.save_session(CONFIG, item, 1, bounds=BOUNDS)
    # 0.1's "timeout" attribute (written on every item, pinned or not) goes too.
    assert params["UpdateExpression"].endswith(" REMOVE #u, #p, #t")
    names = params["ExpressionAttributeNames"]
    assert (names["#u"], names["#p"], names["#t"]) == ("user_id", "pinned_timeout", "timeout")


def test_touch_updates_two_numbers_only_while_the_session_is_valid():
    bounds = ValidityBounds(now=500, used_after=500 - 3600, born_after=None)
    params = requests.touch_session(
        CONFIG, KEY, now=500, expires=7700, expected_version=2, bounds=bounds
    )
    assert params == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "SET #a = :now, #e = :expires",
        "ConditionExpression": "#v = :expected AND #va > :used_after AND #ve > :valid_at",
        "ExpressionAttributeNames": {
            "#a": "accessed",
            "#e": "expires",
            "#v": "version",
            "#va": "accessed",
            "#ve": "expires",
        },
        "ExpressionAttributeValues": {
            ":now": {"N": "500"},
            ":expires": {"N": "7700"},
            ":expected": {"N": "2"},
            ":used_after": {"N": str(500 - 3600)},
            ":valid_at": {"N": "500"},
        },
    }


def test_an_emptied_session_is_deleted_only_as_read_and_while_valid():
    assert requests.delete_emptied(CONFIG, KEY, 5, bounds=BOUNDS) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "ConditionExpression": "#v = :expected AND #va > :used_after AND #ve > :valid_at",
        "ExpressionAttributeNames": {"#v": "version", "#va": "accessed", "#ve": "expires"},
        "ExpressionAttributeValues": {
            ":expected": {"N": "5"},
            ":used_after": {"N": str(200 - 3600)},
            ":valid_at": {"N": "200"},
        },
    }
    locked = requests.delete_emptied(CONFIG, KEY, 5, bounds=BOUNDS, lock_owner="me")
    assert locked["ConditionExpression"].endswith(" AND #lo = :owner")
    assert locked["ExpressionAttributeValues"][":owner"] == {"S": "me"}


def test_log_out_deletes_unconditionally():
    assert requests.delete_session(CONFIG, KEY) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
    }


def test_create_table_on_demand_or_provisioned():
    # With the user index (the default) see tests/core/test_users_requests.py.
    assert requests.create_table(CONFIG.replace(user_index=None)) == {
        "TableName": "sessions",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    provisioned = requests.create_table(CONFIG, read_capacity=7, write_capacity=3)
    assert provisioned["BillingMode"] == "PROVISIONED"
    assert provisioned["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 7,
        "WriteCapacityUnits": 3,
    }


def test_enable_ttl_on_expires():
    assert requests.enable_ttl(CONFIG) == {
        "TableName": "sessions",
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"},
    }


def test_attribute_names_are_configurable():
    from dynamodb_sessions import Attributes

    custom = CONFIG.replace(attributes=Attributes(key="pk", expires="ttl"))
    assert requests.get_session(custom, KEY)["Key"] == {"pk": {"S": KEY}}
    assert requests.enable_ttl(custom)["TimeToLiveSpecification"]["AttributeName"] == "ttl"

"""The exact wire requests: a change to what goes to DynamoDB must be deliberate."""

from dynamodb_sessions import StoreConfig
from dynamodb_sessions._core import requests
from dynamodb_sessions._core.items import build_item

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
        KEY, b"J{}", now=100, created=100, timeout=3600, version=1, user_id=None, config=CONFIG
    )
    assert requests.create_session(CONFIG, item) == {
        "TableName": "sessions",
        "Item": {
            "id": {"S": KEY},
            "data": {"B": b"J{}"},
            "expires": {"N": "7300"},
            "accessed": {"N": "100"},
            "created": {"N": "100"},
            "timeout": {"N": "3600"},
            "version": {"N": "1"},
        },
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": "id"},
    }


def test_save_is_an_update_conditional_on_the_version_read():
    item = build_item(
        KEY, b"J{}", now=200, created=100, timeout=3600, version=4, user_id="u1", config=CONFIG
    )
    assert requests.save_session(CONFIG, item, 3) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": (
            "SET #a0 = :a0, #a1 = :a1, #a2 = :a2, #a3 = :a3, #a4 = :a4, #a5 = :a5, #a6 = :a6"
        ),
        "ConditionExpression": "#v = :expected",
        "ExpressionAttributeNames": {
            "#a0": "data",
            "#a1": "expires",
            "#a2": "accessed",
            "#a3": "created",
            "#a4": "timeout",
            "#a5": "version",
            "#a6": "user_id",
            "#v": "version",
        },
        "ExpressionAttributeValues": {
            ":a0": {"B": b"J{}"},
            ":a1": {"N": "7400"},
            ":a2": {"N": "200"},
            ":a3": {"N": "100"},
            ":a4": {"N": "3600"},
            ":a5": {"N": "4"},
            ":a6": {"S": "u1"},
            ":expected": {"N": "3"},
        },
    }


def test_save_without_a_user_removes_a_stale_one():
    item = build_item(
        KEY, b"J{}", now=200, created=100, timeout=3600, version=2, user_id=None, config=CONFIG
    )
    params = requests.save_session(CONFIG, item, 1)
    assert params["UpdateExpression"].endswith(" REMOVE #u")
    assert params["ExpressionAttributeNames"]["#u"] == "user_id"


def test_touch_updates_two_numbers_only():
    assert requests.touch_session(CONFIG, KEY, now=500, expires=7700, expected_version=2) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": "SET #a = :now, #e = :expires",
        "ConditionExpression": "#v = :expected",
        "ExpressionAttributeNames": {"#a": "accessed", "#e": "expires", "#v": "version"},
        "ExpressionAttributeValues": {
            ":now": {"N": "500"},
            ":expires": {"N": "7700"},
            ":expected": {"N": "2"},
        },
    }


def test_delete():
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

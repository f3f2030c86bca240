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
        KEY, {}, now=100, created=100, timeout=None, version=1, user_id=None, config=CONFIG
    )
    assert requests.create_session(CONFIG, item) == {
        "TableName": "sessions",
        "Item": {
            "id": {"S": KEY},
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
        KEY, {}, now=100, created=100, timeout=None, version=1, user_id=None, config=CONFIG
    )
    pinned = build_item(
        KEY, {}, now=100, created=100, timeout=9000, version=1, user_id=None, config=CONFIG
    )
    assert "pinned_timeout" not in unpinned and "timeout" not in unpinned
    assert pinned["pinned_timeout"] == {"N": "9000"}
    assert pinned["expires"] == {"N": str(100 + 9000)}  # never before the session ends


BOUNDS = ValidityBounds(now=200, used_after=200 - 3600, born_after=None)


def test_save_is_an_update_conditional_on_the_version_read_and_on_validity():
    item = build_item(
        KEY,
        {"a": b"J{}"},
        now=200,
        created=100,
        timeout=None,
        version=4,
        user_id="u1",
        config=CONFIG,
    )
    assert requests.save_session(CONFIG, item, 3, bounds=BOUNDS, dropped=["old"]) == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": (
            "SET #a0 = :a0, #a1 = :a1, #a2 = :a2, #a3 = :a3, #a4 = :a4, #a5 = :a5"
            " REMOVE #r0, #p, #t, #d"
        ),
        "ConditionExpression": ("#v = :expected AND #va > :used_after AND #ve > :valid_at"),
        "ExpressionAttributeNames": {
            "#a0": "expires",
            "#a1": "accessed",
            "#a2": "created",
            "#a3": "version",
            "#a4": "s:a",
            "#a5": "user_id",
            "#r0": "s:old",
            "#p": "pinned_timeout",
            "#t": "timeout",
            "#d": "data",
            "#va": "accessed",
            "#ve": "expires",
            "#v": "version",
        },
        "ExpressionAttributeValues": {
            ":a0": {"N": "7400"},
            ":a1": {"N": "200"},
            ":a2": {"N": "100"},
            ":a3": {"N": "4"},
            ":a4": {"B": b"J{}"},
            ":a5": {"S": "u1"},
            ":expected": {"N": "3"},
            ":used_after": {"N": str(200 - 3600)},
            ":valid_at": {"N": "200"},
        },
    }


def test_with_an_absolute_timeout_a_write_also_requires_the_session_young_enough():
    bounds = ValidityBounds(now=200, used_after=-3400, born_after=200 - 1000)
    item = build_item(
        KEY, {}, now=200, created=100, timeout=None, version=2, user_id=None, config=CONFIG
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
        KEY, {}, now=200, created=100, timeout=None, version=2, user_id=None, config=CONFIG
    )
    params = requests.save_session(CONFIG, item, 1, bounds=BOUNDS)
    # 0.1's "timeout" attribute (written on every item, pinned or not) goes too.
    assert params["UpdateExpression"].endswith(" REMOVE #u, #p, #t, #d")
    names = params["ExpressionAttributeNames"]
    assert (names["#u"], names["#p"], names["#t"]) == ("user_id", "pinned_timeout", "timeout")
    assert names["#d"] == "data"  # 0.1's blob: a whole write converts such an item


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


def test_an_update_of_what_changed_is_conditional_on_validity_never_on_the_version():
    params = requests.update_values(
        CONFIG,
        KEY,
        values={"cart": b"J1"},
        removed=["flash"],
        now=200,
        expires=7400,
        timeout=None,
        user_id="u1",
        bounds=BOUNDS,
    )
    assert params == {
        "TableName": "sessions",
        "Key": {"id": {"S": KEY}},
        "UpdateExpression": (
            "SET #a = :now, #e = :expires, #s0 = :s0, #u = :u REMOVE #r0, #p, #t ADD #v :one"
        ),
        "ConditionExpression": ("attribute_exists(#k) AND #va > :used_after AND #ve > :valid_at"),
        "ExpressionAttributeNames": {
            "#k": "id",
            "#a": "accessed",
            "#e": "expires",
            "#v": "version",
            "#s0": "s:cart",
            "#r0": "s:flash",
            "#u": "user_id",
            "#p": "pinned_timeout",
            "#t": "timeout",
            "#va": "accessed",
            "#ve": "expires",
        },
        "ExpressionAttributeValues": {
            ":now": {"N": "200"},
            ":expires": {"N": "7400"},
            ":one": {"N": "1"},
            ":s0": {"B": b"J1"},
            ":u": {"S": "u1"},
            ":used_after": {"N": str(200 - 3600)},
            ":valid_at": {"N": "200"},
        },
        # Keys were removed: the item comes back, to tell whether anything is left.
        "ReturnValues": "ALL_NEW",
    }


def test_an_update_in_lock_mode_requires_the_lock_and_releases_it_unless_kept():
    bounds = ValidityBounds(now=200, used_after=-3400, born_after=-800)
    common = {
        "values": {"a": b"J1"},
        "removed": [],
        "now": 200,
        "expires": 7400,
        "timeout": 50,
        "user_id": None,
    }
    params = requests.update_values(CONFIG, KEY, bounds=bounds, lock_owner="me", **common)
    assert params is not None
    assert params["UpdateExpression"] == (
        "SET #a = :now, #e = :expires, #s0 = :s0, #p = :p REMOVE #u, #t, #lo, #lx ADD #v :one"
    )
    assert params["ConditionExpression"] == (
        "attribute_exists(#k) AND #va > :used_after AND #ve > :valid_at"
        " AND #vc > :born_after AND #lo = :owner"
    )
    assert params["ExpressionAttributeValues"][":owner"] == {"S": "me"}
    assert params["ExpressionAttributeValues"][":p"] == {"N": "50"}
    assert "ReturnValues" not in params  # nothing removed: no need for the item back
    kept = requests.update_values(
        CONFIG, KEY, bounds=bounds, lock_owner="me", keep_lock=True, **common
    )
    assert kept is not None and "#lo, #lx" not in kept["UpdateExpression"]


def _update(values=(), removed=()):
    return requests.update_values(
        CONFIG,
        KEY,
        values=dict.fromkeys(values, b"J1"),
        removed=list(removed),
        now=200,
        expires=7400,
        timeout=None,
        user_id=None,
        bounds=BOUNDS,
    )


def test_a_change_set_too_big_for_one_expression_is_refused_on_both_limits():
    # The number of keys: 100 fit, 101 do not (whether set or removed).
    at_limit = _update([f"k{i}" for i in range(60)], [f"r{i}" for i in range(40)])
    assert at_limit is not None
    assert _update([f"k{i}" for i in range(60)], [f"r{i}" for i in range(41)]) is None
    # Long key names: their attribute names' bytes in all (the "s:" prefix included).
    room = requests.MAX_DELTA_NAME_BYTES - len("s:") * 2
    assert _update(["a" * (room // 2)], ["b" * (room // 2)]) is not None
    assert _update(["a" * (room // 2)], ["b" * (room // 2 + 1)]) is None
    one = requests.MAX_DELTA_NAME_BYTES - len("s:")
    assert _update(["é" * (one // 2)]) is not None  # bytes (2 a character), not characters
    assert _update(["é" * (one // 2 + 1)]) is None
    # The most keys that fit make the longest expression string: still within its budget,
    # itself half of DynamoDB's 4 KB cap.
    biggest = _update([f"k{i}" for i in range(50)], [f"r{i}" for i in range(50)])
    assert biggest is not None
    assert len(biggest["UpdateExpression"]) <= requests.MAX_DELTA_EXPRESSION <= 4096 // 2

"""Pure builders of DynamoDB requests: each returns the exact keyword arguments of one botocore
client call. Tests pin these dicts, so a change to what goes on the wire is always deliberate."""

from __future__ import annotations

from typing import Any

from ..config import StoreConfig
from .items import Item

Params = dict[str, Any]
CONDITION_FAILED = "ConditionalCheckFailedException"


def get_session(config: StoreConfig, key: str) -> Params:
    """GetItem for one session item."""
    return {
        "TableName": config.table,
        "Key": {config.attributes.key: {"S": key}},
        "ConsistentRead": config.consistent_read,
    }


def create_session(config: StoreConfig, item: Item) -> Params:
    """PutItem that succeeds only if no item has this key (a new session never overwrites)."""
    return {
        "TableName": config.table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": config.attributes.key},
    }


def save_session(config: StoreConfig, item: Item, expected_version: int) -> Params:
    """UpdateItem that writes a session's attributes only if it still has ``expected_version``.

    An update rather than a put, so attributes that others keep on the item survive.
    """
    names = config.attributes
    written = [name for name in item if name != names.key]
    placeholders = {f"#a{i}": name for i, name in enumerate(written)}
    assignments = ", ".join(f"#a{i} = :a{i}" for i in range(len(written)))
    expression = f"SET {assignments}"
    if names.user not in item:
        placeholders["#u"] = names.user
        expression += " REMOVE #u"
    return {
        "TableName": config.table,
        "Key": {names.key: item[names.key]},
        "UpdateExpression": expression,
        "ConditionExpression": "#v = :expected",
        "ExpressionAttributeNames": {**placeholders, "#v": names.version},
        "ExpressionAttributeValues": {
            **{f":a{i}": item[name] for i, name in enumerate(written)},
            ":expected": {"N": str(expected_version)},
        },
    }


def touch_session(
    config: StoreConfig, key: str, *, now: int, expires: int, expected_version: int
) -> Params:
    """UpdateItem that records activity and pushes the TTL back, without rewriting the data.

    Conditional on the version read: if another request saved meanwhile it refreshed the
    item itself, and a deleted session must not come back.
    """
    names = config.attributes
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": "SET #a = :now, #e = :expires",
        "ConditionExpression": "#v = :expected",
        "ExpressionAttributeNames": {
            "#a": names.accessed,
            "#e": names.expires,
            "#v": names.version,
        },
        "ExpressionAttributeValues": {
            ":now": {"N": str(now)},
            ":expires": {"N": str(expires)},
            ":expected": {"N": str(expected_version)},
        },
    }


def delete_session(config: StoreConfig, key: str) -> Params:
    """DeleteItem for one session item (deleting an absent item is not an error)."""
    return {"TableName": config.table, "Key": {config.attributes.key: {"S": key}}}


def describe_table(config: StoreConfig) -> Params:
    """DescribeTable for the session table."""
    return {"TableName": config.table}


def create_table(
    config: StoreConfig, *, read_capacity: int | None = None, write_capacity: int | None = None
) -> Params:
    """CreateTable with the ``id`` string partition key; on-demand unless capacities are given."""
    key = config.attributes.key
    params: Params = {
        "TableName": config.table,
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
    }
    if read_capacity is None and write_capacity is None:
        params["BillingMode"] = "PAY_PER_REQUEST"
    else:
        params["BillingMode"] = "PROVISIONED"
        params["ProvisionedThroughput"] = {
            "ReadCapacityUnits": read_capacity or 5,
            "WriteCapacityUnits": write_capacity or 5,
        }
    return params


def describe_ttl(config: StoreConfig) -> Params:
    """DescribeTimeToLive for the session table."""
    return {"TableName": config.table}


def enable_ttl(config: StoreConfig) -> Params:
    """UpdateTimeToLive turning TTL on for the ``expires`` attribute."""
    return {
        "TableName": config.table,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": config.attributes.expires},
    }

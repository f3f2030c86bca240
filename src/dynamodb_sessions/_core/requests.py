"""Pure builders of DynamoDB requests: each returns the exact keyword arguments of one botocore
client call. Tests pin these dicts, so a change to what goes on the wire is always deliberate."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ..config import StoreConfig
from .items import Item, ValidityBounds, unread_bounds, value_attribute

Params = dict[str, Any]
CONDITION_FAILED = "ConditionalCheckFailedException"


def get_session(config: StoreConfig, key: str, *, consistent: bool | None = None) -> Params:
    """GetItem for one session item: strongly consistent if ``consistent``, else as configured
    (``StoreConfig.consistent_read``)."""
    return {
        "TableName": config.table,
        "Key": {config.attributes.key: {"S": key}},
        "ConsistentRead": config.consistent_read if consistent is None else consistent,
    }


def create_session(config: StoreConfig, item: Item) -> Params:
    """PutItem that succeeds only if no item has this key (a new session never overwrites)."""
    return {
        "TableName": config.table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": config.attributes.key},
    }


def save_session(
    config: StoreConfig,
    item: Item,
    expected_version: int,
    *,
    bounds: ValidityBounds,
    lock_owner: str | None = None,
    dropped: Collection[str] = (),
) -> Params:
    """UpdateItem that writes a whole session only if it still has ``expected_version`` and is
    still valid (``bounds``): a session that expired since it was read stays expired.

    The fallback of :func:`update_values` (a clear, converting a 0.1 item, a change set too big
    for one expression). An update rather than a put, so attributes that others keep on the item
    survive. It removes the keys in ``dropped`` (stored, and no longer in the session), the user
    and the pinned timeout when the item carries none, and 0.1's ``data`` blob and ``timeout``
    attribute (so an item of 0.1 is converted). With ``lock_owner`` (lock mode) the write also
    releases that lock, and only happens while this request still holds it.
    """
    names = config.attributes
    written = [name for name in item if name != names.key]
    placeholders = {f"#a{i}": name for i, name in enumerate(written)}
    assignments = ", ".join(f"#a{i} = :a{i}" for i in range(len(written)))
    expression = f"SET {assignments}"
    removed = []
    for i, name in enumerate(dropped):
        placeholders[f"#r{i}"] = value_attribute(name)
        removed.append(f"#r{i}")
    for tag, name in (
        ("#u", names.user),
        ("#p", names.pinned_timeout),
        ("#t", names.timeout),
        ("#d", names.data),
    ):
        if name not in item:
            placeholders[tag] = name
            removed.append(tag)
    values = {f":a{i}": item[name] for i, name in enumerate(written)}
    condition = "#v = :expected"
    values[":expected"] = {"N": str(expected_version)}
    condition += _valid_condition(config, bounds, placeholders, values)
    if lock_owner is not None:
        placeholders.update(_lock_names(config))
        removed += ["#lo", "#lx"]
        condition += " AND #lo = :owner"
        values[":owner"] = {"S": lock_owner}
    expression += " REMOVE " + ", ".join(removed)
    return {
        "TableName": config.table,
        "Key": {names.key: item[names.key]},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {**placeholders, "#v": names.version},
        "ExpressionAttributeValues": values,
    }


MAX_DELTA_KEYS = 100
"""At most this many keys set or removed by one :func:`update_values` (DynamoDB allows 300
operators in an expression); more go through the whole-session write."""

MAX_DELTA_EXPRESSION = 2048
"""At most this many bytes of update expression string (DynamoDB caps one at 4 KB, counted on
the string as sent, placeholders unsubstituted). With :data:`MAX_DELTA_KEYS` keys it is never
reached (about 13 bytes a key); checked anyway, so a change of either stays safe."""

MAX_DELTA_NAME_BYTES = 32 * 1024
"""At most this many bytes of key attribute names in one update (DynamoDB allows 2 MB of
substitutions in all, and 64 KB per attribute name); long key names beyond it go through
the whole-session write."""


def update_values(
    config: StoreConfig,
    key: str,
    *,
    values: Mapping[str, bytes],
    removed: Collection[str],
    now: int,
    expires: int,
    timeout: int | None,
    user_id: str | None,
    bounds: ValidityBounds,
    lock_owner: str | None = None,
    keep_lock: bool = False,
) -> Params | None:
    """UpdateItem that writes only what a request changed: SET the keys in ``values`` (encoded),
    REMOVE the keys in ``removed``, record activity, bump the version. ``None`` if the change
    set does not fit one expression (:data:`MAX_DELTA_KEYS`, :data:`MAX_DELTA_EXPRESSION`,
    :data:`MAX_DELTA_NAME_BYTES`).

    Conditional on the item existing and still being valid (``bounds``), NOT on the version:
    two requests that change different keys never conflict, and for one key the last writer
    wins. With ``lock_owner`` (lock mode) only while this request holds the lock, which the
    write releases unless ``keep_lock``. When keys are removed the item as written comes back
    (``ALL_NEW``), so the caller can tell whether anything is left of the session.
    """
    if len(values) + len(removed) > MAX_DELTA_KEYS:
        return None
    names = config.attributes
    placeholders = {"#k": names.key, "#a": names.accessed, "#e": names.expires, "#v": names.version}
    attribute_values: dict[str, Any] = {
        ":now": {"N": str(now)},
        ":expires": {"N": str(expires)},
        ":one": {"N": "1"},
    }
    sets = ["#a = :now", "#e = :expires"]
    drops = []
    name_bytes = 0
    for i, (name, blob) in enumerate(values.items()):
        placeholders[f"#s{i}"] = value_attribute(name)
        attribute_values[f":s{i}"] = {"B": blob}
        sets.append(f"#s{i} = :s{i}")
        name_bytes += len(value_attribute(name).encode())
    for i, name in enumerate(removed):
        placeholders[f"#r{i}"] = value_attribute(name)
        drops.append(f"#r{i}")
        name_bytes += len(value_attribute(name).encode())
    for tag, name, value in (
        ("#u", names.user, None if user_id is None else {"S": user_id}),
        ("#p", names.pinned_timeout, None if timeout is None else {"N": str(timeout)}),
    ):
        placeholders[tag] = name
        if value is None:
            drops.append(tag)
        else:
            attribute_values[f":{tag[1:]}"] = value
            sets.append(f"{tag} = :{tag[1:]}")
    placeholders["#t"] = names.timeout  # 0.1's, never read: dropped by any write
    drops.append("#t")
    condition = "attribute_exists(#k)" + _valid_condition(
        config, bounds, placeholders, attribute_values
    )
    if lock_owner is not None:
        placeholders.update(_lock_names(config))
        condition += " AND #lo = :owner"
        attribute_values[":owner"] = {"S": lock_owner}
        if not keep_lock:
            drops += ["#lo", "#lx"]
    expression = "SET " + ", ".join(sets)
    if drops:
        expression += " REMOVE " + ", ".join(drops)
    expression += " ADD #v :one"
    if len(expression.encode()) > MAX_DELTA_EXPRESSION or name_bytes > MAX_DELTA_NAME_BYTES:
        return None
    params: Params = {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": placeholders,
        "ExpressionAttributeValues": attribute_values,
    }
    if removed:
        params["ReturnValues"] = "ALL_NEW"
    return params


def touch_session(
    config: StoreConfig,
    key: str,
    *,
    now: int,
    expires: int,
    expected_version: int,
    bounds: ValidityBounds,
    lock_owner: str | None = None,
) -> Params:
    """UpdateItem that records activity and pushes the TTL back, without rewriting the data.

    Conditional on the version read (if another request saved meanwhile it refreshed the item
    itself, and a deleted session must not come back) and on the item still being valid
    (``bounds``: an expired session must not come back either). With ``lock_owner`` (lock
    mode) it also releases that lock, and only while this request still holds it.
    """
    names = config.attributes
    placeholders = {"#a": names.accessed, "#e": names.expires, "#v": names.version}
    values = {
        ":now": {"N": str(now)},
        ":expires": {"N": str(expires)},
        ":expected": {"N": str(expected_version)},
    }
    condition = "#v = :expected" + _valid_condition(config, bounds, placeholders, values)
    params: Params = {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": "SET #a = :now, #e = :expires",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": placeholders,
        "ExpressionAttributeValues": values,
    }
    if lock_owner is not None:
        params["UpdateExpression"] += " REMOVE #lo, #lx"
        params["ConditionExpression"] += " AND #lo = :owner"
        params["ExpressionAttributeNames"].update(_lock_names(config))
        params["ExpressionAttributeValues"][":owner"] = {"S": lock_owner}
    return params


def delete_emptied(
    config: StoreConfig,
    key: str,
    expected_version: int,
    *,
    bounds: ValidityBounds,
    lock_owner: str | None = None,
) -> Params:
    """DeleteItem of a session its request emptied, only if it still has ``expected_version``
    and is still valid: a key another request saved meanwhile is never erased with it (the
    caller merges and tries again), and an expired item is left to expire.

    With ``lock_owner`` (lock mode) only while this request still holds the lock.
    """
    names = config.attributes
    placeholders = {"#v": names.version}
    values: dict[str, Any] = {":expected": {"N": str(expected_version)}}
    condition = "#v = :expected" + _valid_condition(config, bounds, placeholders, values)
    if lock_owner is not None:
        placeholders["#lo"] = names.lock_owner
        condition += " AND #lo = :owner"
        values[":owner"] = {"S": lock_owner}
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "ConditionExpression": condition,
        "ExpressionAttributeNames": placeholders,
        "ExpressionAttributeValues": values,
    }


def _valid_condition(
    config: StoreConfig,
    bounds: ValidityBounds,
    names: dict[str, str],
    values: dict[str, Any],
    *,
    timeout_read: bool = True,
) -> str:
    """The condition that the item is still valid at ``bounds.now`` (``items.is_valid``),
    adding its placeholders to ``names`` and ``values``.

    Without ``timeout_read`` the write has not read the item, so it cannot know a timeout
    pinned on it, and a condition cannot add one to ``accessed``: ``bounds`` then hold the
    configured timeout, which binds only items without a pinned one; the caller judges pinned
    items on what the write returns (:func:`acquire_lock`).
    """
    attributes = config.attributes
    names.update({"#va": attributes.accessed, "#ve": attributes.expires})
    values.update(
        {":used_after": {"N": str(bounds.used_after)}, ":valid_at": {"N": str(bounds.now)}}
    )
    idle = "#va > :used_after"
    if not timeout_read:
        names["#vp"] = attributes.pinned_timeout
        idle = f"(attribute_exists(#vp) OR {idle})"
    condition = f" AND {idle} AND #ve > :valid_at"
    if bounds.born_after is not None:
        names["#vc"] = attributes.created
        values[":born_after"] = {"N": str(bounds.born_after)}
        condition += " AND #vc > :born_after"
    return condition


def acquire_lock(config: StoreConfig, key: str, *, owner: str, now: float, lease: int) -> Params:
    """UpdateItem taking a session's lease lock and returning the whole item (one call).

    It succeeds only on an existing item that is still valid at ``now`` (its ``expires``, the
    absolute timeout and, for an item on the configured idle timeout, that one; a timeout pinned
    on the item, which DynamoDB cannot add up, is judged on the item returned) and that nobody
    holds, whose lease has run out (a crashed holder), or that ``owner`` already holds. It never
    creates an item. The lease is in epoch seconds to the millisecond, so it lasts ``lease``
    seconds exactly.
    """
    names = config.attributes
    at = _millis(now)
    placeholders = {"#k": names.key, **_lock_names(config)}
    values: dict[str, Any] = {
        ":owner": {"S": owner},
        ":until": {"N": _seconds(at + lease * 1000)},
        ":now": {"N": _seconds(at)},
    }
    condition = "attribute_exists(#k)" + _valid_condition(
        config, unread_bounds(now, config), placeholders, values, timeout_read=False
    )
    condition += " AND (attribute_not_exists(#lo) OR #lx <= :now OR #lo = :owner)"
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": "SET #lo = :owner, #lx = :until",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": placeholders,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }


def release_lock(config: StoreConfig, key: str, owner: str, *, now: float) -> Params:
    """UpdateItem dropping ``owner``'s lock; it fails (and changes nothing) on anyone else's,
    and on an item no longer valid at ``now`` (``expires``, the absolute timeout and, for an
    item on the configured idle timeout, that one: an expired item is left to expire)."""
    names = config.attributes
    placeholders = _lock_names(config)
    values: dict[str, Any] = {":owner": {"S": owner}}
    condition = "#lo = :owner" + _valid_condition(
        config, unread_bounds(now, config), placeholders, values, timeout_read=False
    )
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": "REMOVE #lo, #lx",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": placeholders,
        "ExpressionAttributeValues": values,
    }


def delete_session(config: StoreConfig, key: str) -> Params:
    """DeleteItem for one session item, unconditional (deleting an absent item is not an error):
    for log-out (flush) and the items a rotation retired, which must go whatever happened."""
    return {"TableName": config.table, "Key": {config.attributes.key: {"S": key}}}


def scan_expired(
    config: StoreConfig,
    *,
    now: int,
    segment: int,
    total_segments: int,
    start_key: dict[str, Any] | None = None,
) -> Params:
    """Scan of one segment for items whose ``expires`` has passed, reading only what GC needs.

    With a key prefix only this app's items are considered (several apps may share a table).
    """
    names = config.attributes
    params: Params = {
        "TableName": config.table,
        "Segment": segment,
        "TotalSegments": total_segments,
        "FilterExpression": "#e < :now",
        "ProjectionExpression": "#k, #e, #v",
        "ExpressionAttributeNames": {"#k": names.key, "#e": names.expires, "#v": names.version},
        "ExpressionAttributeValues": {":now": {"N": str(now)}},
    }
    if config.key_prefix:
        params["FilterExpression"] += " AND begins_with(#k, :prefix)"
        params["ExpressionAttributeValues"][":prefix"] = {"S": config.key_prefix}
    if start_key:
        params["ExclusiveStartKey"] = start_key
    return params


def scan_items(
    config: StoreConfig, *, segment: int, total_segments: int, start_key: dict[str, Any] | None
) -> Params:
    """Scan of one segment reading whole items (``stats``: their sizes and value formats).

    A projection would not make it cheaper: a scan is billed by the size of the items it reads,
    whatever it returns. With a key prefix only this app's items are returned.
    """
    params: Params = {
        "TableName": config.table,
        "Segment": segment,
        "TotalSegments": total_segments,
    }
    if config.key_prefix:
        params["FilterExpression"] = "begins_with(#k, :prefix)"
        params["ExpressionAttributeNames"] = {"#k": config.attributes.key}
        params["ExpressionAttributeValues"] = {":prefix": {"S": config.key_prefix}}
    if start_key:
        params["ExclusiveStartKey"] = start_key
    return params


def delete_expired(config: StoreConfig, key: str, *, now: int, version: int | None) -> Params:
    """DeleteItem of an item the scan saw expired, only if it still is and was not rewritten.

    A request that refreshed the session after the scan moved ``expires`` past ``now`` (and a
    save also bumped the version), so the condition fails and the session survives.
    """
    names = config.attributes
    params: Params = {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "ConditionExpression": "#e < :now",
        "ExpressionAttributeNames": {"#e": names.expires},
        "ExpressionAttributeValues": {":now": {"N": str(now)}},
    }
    if version is not None:
        params["ConditionExpression"] += " AND #v = :version"
        params["ExpressionAttributeNames"]["#v"] = names.version
        params["ExpressionAttributeValues"][":version"] = {"N": str(version)}
    return params


def query_user_sessions(
    config: StoreConfig, index: str, user_id: str, start_key: dict[str, Any] | None = None
) -> Params:
    """Query of the user index for the items of ``user_id`` (eventually consistent, as every
    global secondary index is)."""
    names = config.attributes
    params: Params = {
        "TableName": config.table,
        "IndexName": index,
        "KeyConditionExpression": "#u = :user",
        "ExpressionAttributeNames": {"#u": names.user},
        "ExpressionAttributeValues": {":user": {"S": user_id}},
    }
    if config.key_prefix:
        params["FilterExpression"] = "begins_with(#k, :prefix)"
        params["ExpressionAttributeNames"]["#k"] = names.key
        params["ExpressionAttributeValues"][":prefix"] = {"S": config.key_prefix}
    if start_key:
        params["ExclusiveStartKey"] = start_key
    return params


def delete_user_session(config: StoreConfig, key: str, user_id: str) -> Params:
    """DeleteItem of one of a user's sessions, only if it still belongs to that user."""
    return {
        "TableName": config.table,
        "Key": {config.attributes.key: {"S": key}},
        "ConditionExpression": "#u = :user",
        "ExpressionAttributeNames": {"#u": config.attributes.user},
        "ExpressionAttributeValues": {":user": {"S": user_id}},
    }


def get_revocation(config: StoreConfig, key: str) -> Params:
    """Strongly consistent GetItem of a user's revocation mark (a small item)."""
    return {
        "TableName": config.table,
        "Key": {config.attributes.key: {"S": key}},
        "ConsistentRead": True,
        "ProjectionExpression": "#r",
        "ExpressionAttributeNames": {"#r": REVOKED},
    }


def mark_revoked(
    config: StoreConfig, key: str, *, until: float, expires: int, replacing: float | None = None
) -> Params:
    """UpdateItem setting a user's revocation mark: logins at or before ``until`` are refused.

    It never lowers a later mark (another revocation's); with ``replacing`` it changes only
    the mark this revocation set itself.
    """
    names = config.attributes
    values: Params = {
        ":until": {"N": _seconds(_millis(until))},
        ":expires": {"N": str(expires)},
    }
    if replacing is None:
        condition = "attribute_not_exists(#r) OR #r < :until"
    else:
        condition = "#r = :ours"
        values[":ours"] = {"N": _seconds(_millis(replacing))}
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "UpdateExpression": "SET #r = :until, #e = :expires",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#r": REVOKED, "#e": names.expires},
        "ExpressionAttributeValues": values,
    }


REVOKED = "revoked"  # the revocation mark's one attribute besides the key and ``expires``


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
    throughput = None
    if read_capacity is None and write_capacity is None:
        params["BillingMode"] = "PAY_PER_REQUEST"
    else:
        params["BillingMode"] = "PROVISIONED"
        throughput = {
            "ReadCapacityUnits": read_capacity or 5,
            "WriteCapacityUnits": write_capacity or 5,
        }
        params["ProvisionedThroughput"] = throughput
    if config.user_index is not None:
        params["AttributeDefinitions"].append(
            {"AttributeName": config.attributes.user, "AttributeType": "S"}
        )
        params["GlobalSecondaryIndexes"] = [user_index(config, config.user_index, throughput)]
    return params


def user_index(config: StoreConfig, name: str, throughput: dict[str, int] | None) -> Params:
    """The global secondary index on the user attribute that lists a user's sessions.

    Sparse (only items with a user are in it) and keys only: DynamoDB writes a global index
    whenever an item's index key or a projected attribute changes, so an index that projected
    ``accessed`` or ``expires`` would be written by every save and every expiry refresh of a
    logged-in session. Keys only, it is written when a session gets or loses its user, and
    when it is created or deleted; the listing reads what it shows from the table.
    """
    names = config.attributes
    index: Params = {
        "IndexName": name,
        "KeySchema": [{"AttributeName": names.user, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    if throughput is not None:
        index["ProvisionedThroughput"] = dict(throughput)
    return index


def get_listed_session(config: StoreConfig, key: str) -> Params:
    """GetItem of what a user's listing shows of one session (strongly consistent)."""
    names = config.attributes
    return {
        "TableName": config.table,
        "Key": {names.key: {"S": key}},
        "ConsistentRead": True,
        "ProjectionExpression": "#k, #u, #c, #a, #p, #e",
        "ExpressionAttributeNames": {
            "#k": names.key,
            "#u": names.user,
            "#c": names.created,
            "#a": names.accessed,
            "#p": names.pinned_timeout,
            "#e": names.expires,
        },
    }


def add_user_index(config: StoreConfig, name: str, throughput: dict[str, int] | None) -> Params:
    """UpdateTable adding the user index to an existing table (DynamoDB backfills it).

    The definitions name the table key too: DynamoDB accepts that, and some engines (moto)
    replace the table's definitions with the ones given rather than adding to them.
    """
    return {
        "TableName": config.table,
        "AttributeDefinitions": [
            {"AttributeName": config.attributes.key, "AttributeType": "S"},
            {"AttributeName": config.attributes.user, "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexUpdates": [{"Create": user_index(config, name, throughput)}],
    }


def describe_ttl(config: StoreConfig) -> Params:
    """DescribeTimeToLive for the session table."""
    return {"TableName": config.table}


def enable_ttl(config: StoreConfig) -> Params:
    """UpdateTimeToLive turning TTL on for the ``expires`` attribute."""
    return {
        "TableName": config.table,
        "TimeToLiveSpecification": {"Enabled": True, "AttributeName": config.attributes.expires},
    }


def _lock_names(config: StoreConfig) -> dict[str, str]:
    return {"#lo": config.attributes.lock_owner, "#lx": config.attributes.lock_expires}


def _millis(epoch: float) -> int:
    return int(epoch * 1000)


def _seconds(millis: int) -> str:
    """Epoch milliseconds as a DynamoDB number of seconds with three decimals: exact (no float
    rounding), and comparable with the whole seconds that items written before kept."""
    sign = "-" if millis < 0 else ""
    whole, rest = divmod(abs(millis), 1000)
    return f"{sign}{whole}.{rest:03d}"

"""Flows that create and check the session table. Nothing calls them at request time: tables
are made by ``dynamodb-sessions create-table`` (or :meth:`SessionStore.create_table`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..config import StoreConfig
from . import requests
from .flows import Call, Failed, Flow, Sleep

NOT_FOUND = "ResourceNotFoundException"
# What an engine without the TTL API answers (dynalite says UnknownOperationException).
NO_TTL_API = frozenset({"UnknownOperationException", "UnrecognizedClientException"})
IN_USE = "ResourceInUseException"
VALIDATION = "ValidationException"


@dataclass(frozen=True)
class TableReport:
    """What ``create-table`` did or ``check`` found.

    ``ttl`` is DynamoDB's TTL status (``ENABLED``, ``DISABLED``, ...), or ``None`` when the
    engine has no TTL API. ``user_index_status`` is the status of the user index (log out
    everywhere; ``ACTIVE``, ``CREATING``, ...), ``None`` when it is missing or not configured.
    ``problems`` lists what is wrong; empty means fit for sessions.
    """

    table: str
    exists: bool
    created: bool = False
    status: str | None = None
    ttl: str | None = None
    ttl_attribute: str | None = None
    user_index: str | None = None
    user_index_status: str | None = None
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """The table exists and is fit for sessions."""
        return self.exists and not self.problems


def describe(config: StoreConfig) -> Flow[dict[str, Any] | None]:
    """DescribeTable; ``None`` if the table does not exist."""
    reply = yield Call("describe_table", requests.describe_table(config), frozenset({NOT_FOUND}))
    return None if isinstance(reply, Failed) else reply["Table"]


def schema_problems(table: dict[str, Any], config: StoreConfig) -> list[str]:
    """What keeps an existing table from holding sessions (its key schema)."""
    key = config.attributes.key
    schema = table.get("KeySchema", [])
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    if schema != [{"AttributeName": key, "KeyType": "HASH"}] or types.get(key) != "S":
        found = ", ".join(f"{k['AttributeName']} ({k['KeyType']})" for k in schema) or "none"
        return [f"key schema must be a single string partition key {key!r}; found {found}"]
    return []


def find_user_index(table: dict[str, Any], config: StoreConfig) -> dict[str, Any] | None:
    """The description of the configured user index on ``table``, if it has one."""
    indexes = table.get("GlobalSecondaryIndexes") or []
    return next((i for i in indexes if i.get("IndexName") == config.user_index), None)


def index_problems(table: dict[str, Any], config: StoreConfig) -> list[str]:
    """What keeps the user index from listing a user's sessions (missing, wrong key)."""
    if config.user_index is None:
        return []
    index = find_user_index(table, config)
    user = config.attributes.user
    if index is None:
        return [
            f"no global secondary index {config.user_index!r} on {user!r} (needed to list and "
            "revoke a user's sessions): run `dynamodb-sessions create-table` to add it"
        ]
    if index.get("KeySchema") != [{"AttributeName": user, "KeyType": "HASH"}]:
        return [f"index {config.user_index!r} must have the partition key {user!r} alone"]
    return []


def index_projection_note(index: dict[str, Any], config: StoreConfig) -> str | None:
    """A note when the user index projects more than keys (as 0.1's did: every save and
    expiry refresh of a logged-in session then writes the index too). It still works."""
    projection = index.get("Projection", {})
    if projection.get("ProjectionType", "KEYS_ONLY") == "KEYS_ONLY":
        return None
    return (
        f"index {config.user_index!r} projects {projection.get('ProjectionType')} attributes: "
        "every save and expiry refresh of a logged-in session writes it too; it keeps working, "
        "and recreating it keys only saves those writes (docs/guide.md, the user index)"
    )


def ttl_state(config: StoreConfig) -> Flow[tuple[str | None, str | None]]:
    """(TTL status, TTL attribute); (None, None) when the engine has no TTL API."""
    reply = yield Call("describe_time_to_live", requests.describe_ttl(config), NO_TTL_API)
    if isinstance(reply, Failed):
        return None, None
    description = reply.get("TimeToLiveDescription", {})
    return description.get("TimeToLiveStatus"), description.get("AttributeName")


def check(config: StoreConfig) -> Flow[TableReport]:
    """Check that the table exists, has the right key, and collects expired items by TTL."""
    table = yield from describe(config)
    if table is None:
        return TableReport(config.table, exists=False, problems=("table does not exist",))
    problems = schema_problems(table, config) + index_problems(table, config)
    index = find_user_index(table, config) if config.user_index else None
    index_status = None if index is None else index.get("IndexStatus")
    notes: list[str] = []
    if index_status not in (None, "ACTIVE"):
        notes.append(f"index {config.user_index!r} is {index_status} (DynamoDB is filling it)")
    if index is not None and (projected := index_projection_note(index, config)):
        notes.append(projected)
    status, attribute = yield from ttl_state(config)
    expires = config.attributes.expires
    if status is None:
        notes.append(
            "this engine has no TTL API: run `dynamodb-sessions gc` to collect expired items"
        )
    elif status in ("ENABLED", "ENABLING") and attribute != expires:
        problems.append(f"TTL is on for {attribute!r}, not for {expires!r}")
    elif status not in ("ENABLED", "ENABLING"):
        notes.append(f"TTL is {status}: run `dynamodb-sessions gc` or `create-table` to turn it on")
    return TableReport(
        config.table,
        exists=True,
        status=table.get("TableStatus"),
        ttl=status,
        ttl_attribute=attribute,
        user_index=config.user_index,
        user_index_status=index_status,
        problems=tuple(problems),
        notes=tuple(notes),
    )


def ensure(
    config: StoreConfig,
    *,
    read_capacity: int | None = None,
    write_capacity: int | None = None,
    wait_seconds: float = 300.0,
    poll_seconds: float = 1.0,
) -> Flow[TableReport]:
    """Create the table if absent (idempotent), wait until it is active, and turn TTL on.

    An engine without the TTL API still succeeds, with a note saying so.
    """
    created = False
    table = yield from describe(config)
    if table is None:
        params = requests.create_table(
            config, read_capacity=read_capacity, write_capacity=write_capacity
        )
        reply = yield Call("create_table", params, frozenset({IN_USE}))
        created = not isinstance(reply, Failed)  # IN_USE: another process created it just now
        table = yield from describe(config)
    waited = 0.0
    while table is None or table.get("TableStatus") != "ACTIVE":
        if waited >= wait_seconds:
            status = None if table is None else table.get("TableStatus")
            return TableReport(
                config.table,
                exists=table is not None,
                created=created,
                status=status,
                problems=(f"table not ACTIVE after {wait_seconds:.0f} s (status {status})",),
            )
        yield Sleep(poll_seconds)
        waited += poll_seconds
        table = yield from describe(config)
    problems = schema_problems(table, config)
    if problems:
        return TableReport(config.table, exists=True, status="ACTIVE", problems=tuple(problems))
    index_notes: tuple[str, ...] = ()
    if config.user_index is not None and find_user_index(table, config) is None:
        index_notes = yield from add_user_index(
            config, table, read_capacity, write_capacity, wait_seconds, poll_seconds
        )
    status, _ = yield from ttl_state(config)
    notes: tuple[str, ...] = ()
    if status == "DISABLED":
        reply = yield Call("update_time_to_live", requests.enable_ttl(config), NO_TTL_API)
        if isinstance(reply, Failed):
            notes = (
                "this engine cannot turn TTL on (no UpdateTimeToLive): expired items stay until "
                "`dynamodb-sessions gc` collects them",
            )
    report = yield from check(config)
    return dataclasses.replace(report, created=created, notes=index_notes + (notes or report.notes))


def add_user_index(
    config: StoreConfig,
    table: dict[str, Any],
    read_capacity: int | None,
    write_capacity: int | None,
    wait_seconds: float,
    poll_seconds: float,
) -> Flow[tuple[str, ...]]:
    """Add the user index to an existing table and wait until DynamoDB has filled it.

    Returns notes for the report; an engine that ignores the update (dynalite adds indexes
    only at table creation) leaves the index missing, which :func:`check` then reports.
    """
    assert config.user_index is not None
    throughput = None
    if (table.get("BillingModeSummary") or {}).get("BillingMode") != "PAY_PER_REQUEST":
        current = table.get("ProvisionedThroughput") or {}
        throughput = {
            "ReadCapacityUnits": read_capacity or current.get("ReadCapacityUnits") or 5,
            "WriteCapacityUnits": write_capacity or current.get("WriteCapacityUnits") or 5,
        }
    params = requests.add_user_index(config, config.user_index, throughput)
    reply = yield Call("update_table", params, frozenset({VALIDATION}))
    if isinstance(reply, Failed):
        # dynalite, for one, insists on a throughput even for an on-demand table.
        return (f"this engine refused to add index {config.user_index!r} ({reply.code})",)
    waited = 0.0
    while True:
        described = yield from describe(config)
        index = None if described is None else find_user_index(described, config)
        if index is None:
            return (f"this engine did not add index {config.user_index!r} to the table",)
        if index.get("IndexStatus", "ACTIVE") == "ACTIVE":
            return (f"added index {config.user_index!r}",)
        if waited >= wait_seconds:
            return (f"index {config.user_index!r} still {index.get('IndexStatus')}",)
        yield Sleep(poll_seconds)
        waited += poll_seconds

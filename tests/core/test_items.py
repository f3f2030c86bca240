import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynamodb_sessions import ConfigurationError, SessionTooLargeError, StoreConfig, StoredState
from dynamodb_sessions._core.items import (
    build_item,
    expires_at,
    is_valid,
    item_size,
    parse_item,
    surely_fits,
    touch_due,
)
from dynamodb_sessions.config import Attributes, LockSettings
from dynamodb_sessions.exceptions import CorruptSessionError

CONFIG = StoreConfig(table="t", timeout=100, gc_lifetime=300)


def state(**changes):
    values = {"version": 1, "created": 0, "accessed": 0, "timeout": 100, "expires": 300}
    values["raw"] = b"J{}"
    values.update(changes)
    return StoredState(**values)


def test_expiry_is_the_gc_lifetime_and_never_before_the_timeout():
    assert expires_at(1000, 100, CONFIG) == 1300
    # A session with a longer timeout of its own keeps its item at least that long.
    assert expires_at(1000, 500, CONFIG) == 1500


@pytest.mark.parametrize(("now", "valid"), [(0, True), (99, True), (100, False), (250, False)])
def test_idle_timeout_is_checked_on_read(now, valid):
    assert is_valid(state(), now, CONFIG) is valid


def test_an_item_past_its_ttl_is_invalid_even_if_ttl_has_not_deleted_it():
    assert not is_valid(state(timeout=1000, expires=50), 60, CONFIG)


def test_absolute_timeout_ends_even_an_active_session():
    config = CONFIG.replace(absolute_timeout=150)
    assert is_valid(state(accessed=140), 149, config)
    assert not is_valid(state(accessed=140), 150, config)


def test_touch_is_due_after_the_configured_part_of_the_timeout():
    assert not touch_due(state(), 9, CONFIG)  # touch_after 0.1 of 100 s
    assert touch_due(state(), 10, CONFIG)
    assert touch_due(state(), 0, CONFIG.replace(touch_after=0))


def test_item_round_trip_and_size():
    item = build_item(
        "k", {"a": b"J{}"}, now=5, created=1, timeout=100, version=3, user_id="u", config=CONFIG
    )
    assert parse_item(item, CONFIG.attributes) == StoredState(
        version=3,
        created=1,
        accessed=5,
        timeout=100,
        expires=305,
        raw=None,
        user_id="u",
        values={"a": b"J{}"},
    )
    # Names count too: id(2)+k(1), s:a(3)+3, expires(7)+3, accessed(8)+2, created(7)+2,
    # timeout(7)+2, version(7)+2, user_id(7)+1
    assert item_size(item) == 3 + 6 + 10 + 10 + 9 + 16 + 9 + 8


def test_an_item_of_0_1_keeps_its_blob_as_raw():
    item = build_item(
        "k", {}, now=5, created=1, timeout=None, version=3, user_id=None, config=CONFIG
    )
    item["data"] = {"B": b"J{}"}
    state = parse_item(item, CONFIG.attributes)
    assert state.raw == b"J{}" and state.values == {}


def test_an_attribute_name_in_the_reserved_prefix_is_refused():
    with pytest.raises(ConfigurationError):
        Attributes(user="s:user")


def test_oversized_items_are_refused_before_any_write():
    with pytest.raises(SessionTooLargeError) as caught:
        build_item(
            "k",
            {"x": b"x" * 400 * 1024},
            now=0,
            created=0,
            timeout=1,
            version=1,
            user_id=None,
            config=CONFIG,
        )
    assert caught.value.limit == 400 * 1024
    assert caught.value.size > 400 * 1024


@given(
    key=st.text(max_size=80),
    values=st.dictionaries(st.text(max_size=30), st.binary(max_size=64), max_size=6),
    user=st.none() | st.text(max_size=40),
    timeout=st.none() | st.integers(1, 10**45),
    version=st.integers(1, 10**45),
    limit=st.integers(1, 2000),
    lock=st.booleans(),
)
def test_a_size_surely_within_the_limit_passes_the_exact_guard(
    key, values, user, timeout, version, limit, lock
):
    # The cheap bound only ever skips the exact guard of build_item where it would pass.
    config = CONFIG.replace(max_item_bytes=limit, lock=LockSettings() if lock else None)
    now = 1_800_000_000
    expires = expires_at(now, timeout or config.timeout, config)
    half = len(values) // 2
    parts = (dict(list(values.items())[:half]), dict(list(values.items())[half:]))
    if surely_fits(key, parts, user, max(expires, version), config):
        build_item(
            key,
            values,
            now=now,
            created=now,
            timeout=timeout,
            version=version,
            user_id=user,
            config=config,
        )


def test_a_session_far_below_the_limit_is_surely_within_it():
    values = {"user": b"J" + b"x" * 20, "blob": b"Z" + b"x" * 2000}
    assert surely_fits("k" * 64, (values, {"n": b"J1"}), "alice", 1_800_000_000, CONFIG)
    assert not surely_fits("k" * 64, (values,), None, 10**40, CONFIG)  # a number too large
    assert not surely_fits("k" * 64, ({"big": b"x" * 400 * 1024},), None, 1, CONFIG)


def test_an_item_missing_attributes_is_corrupt():
    with pytest.raises(CorruptSessionError):
        parse_item({"id": {"S": "k"}, "data": {"B": b"J{}"}}, CONFIG.attributes)

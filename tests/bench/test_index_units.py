"""The benchmark's pricing of a global secondary index's writes (DynamoDB's rules), pure."""

from __future__ import annotations

from bench._common import index_wcu

KEYS_ONLY = {
    "KeySchema": [{"AttributeName": "user_id"}],
    "Projection": {"ProjectionType": "KEYS_ONLY"},
}
TIMES = {
    "KeySchema": [{"AttributeName": "user_id"}],
    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["accessed", "expires"]},
}


def item(user: str | None, accessed: int, data: str = "x") -> dict:
    fields = {"id": {"S": "k"}, "accessed": {"N": str(accessed)}, "s:a": {"S": data}}
    return fields | ({"user_id": {"S": user}} if user else {})


def test_entering_leaving_and_moving_in_the_index():
    assert index_wcu(None, item("u", 1), KEYS_ONLY) == 1  # a new signed-in session
    assert index_wcu(item("u", 1), None, KEYS_ONLY) == 1  # deleted
    assert index_wcu(item(None, 1), item("u", 2), KEYS_ONLY) == 1  # signs in
    assert index_wcu(item("u", 1), item("v", 2), KEYS_ONLY) == 2  # another user: out and in
    assert index_wcu(None, item(None, 1), KEYS_ONLY) == 0  # never in it


def test_only_a_projected_change_writes_an_entry_again():
    refresh = (item("u", 1), item("u", 2, data="y"))
    assert index_wcu(*refresh, KEYS_ONLY) == 0  # keys only: a save or refresh costs nothing
    assert index_wcu(*refresh, TIMES) == 1  # 0.1's index: every refresh writes it
    assert index_wcu(item("u", 1), item("u", 1, data="y"), TIMES) == 0  # data is not projected

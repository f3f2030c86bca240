"""Table statistics, pure: the scan request, counting items, nearest-rank percentiles, paging."""

from collections import Counter

import pytest
from flowscript import Script

from dynamodb_sessions import StoreConfig
from dynamodb_sessions._core import requests, scan, stats
from dynamodb_sessions._core.items import item_size
from dynamodb_sessions.exceptions import ConfigurationError

CONFIG = StoreConfig(table="t")
NOW = 5000


def item(key, *, expires=NOW + 100, user=None, **values):
    found = {"id": {"S": key}, "expires": {"N": str(expires)}, "version": {"N": "1"}}
    for name, blob in values.items():
        found[f"s:{name}"] = {"B": blob}
    if user is not None:
        found["user_id"] = {"S": user}
    return found


def test_the_scan_reads_whole_items_of_this_apps_prefix():
    assert requests.scan_items(CONFIG, segment=1, total_segments=3, start_key=None) == {
        "TableName": "t",
        "Segment": 1,
        "TotalSegments": 3,
    }
    params = requests.scan_items(
        CONFIG.replace(key_prefix="shop:"),
        segment=0,
        total_segments=1,
        start_key={"id": {"S": "x"}},
    )
    assert params["FilterExpression"] == "begins_with(#k, :prefix)"
    assert params["ExpressionAttributeNames"] == {"#k": "id"}
    assert params["ExpressionAttributeValues"] == {":prefix": {"S": "shop:"}}
    assert params["ExclusiveStartKey"] == {"id": {"S": "x"}}


def test_items_are_counted_by_expiry_format_and_user():
    census = stats.Census()
    plain = item("a", user="u1", n=b'J{"n":1}')
    mixed = item("b", user="u1", n=b'J{"n":1}', big=b"Zxxxx")  # one value compressed
    sealed = item("c", card=b"E\x01secret")
    old = item("d", expires=NOW - 30, user="u2", n=b'J{"n":1}')
    older = item("e", expires=NOW - 90)
    legacy = item("f") | {"data": {"B": b"Zold"}}  # 0.1's whole-session blob
    mark = {"id": {"S": "user#ab"}, "revoked": {"N": "1"}, "expires": {"N": "9"}}
    for found in (plain, mixed, sealed, old, older, legacy, mark):
        census.count(found, NOW, CONFIG)
    assert (census.sessions, census.revocation_marks) == (6, 1)
    assert (census.expired, census.oldest_expiry) == (2, NOW - 90)
    assert (census.compressed, census.encrypted) == (2, 1)
    assert census.per_user == Counter({"u1": 2, "u2": 1})
    assert census.sizes == Counter(
        item_size(found) for found in (plain, mixed, sealed, old, older, legacy)
    )


def test_an_item_expiring_now_is_not_expired_yet():
    census = stats.Census()
    census.count(item("a", expires=NOW), NOW, CONFIG)  # gc's rule too: expires < now
    census.count(item("b") | {"expires": {"S": "oops"}}, NOW, CONFIG)  # malformed: still counted
    assert (census.sessions, census.expired, census.oldest_expiry) == (2, 0, None)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {}),
        ([7], {50: 7, 90: 7, 99: 7, 100: 7}),
        ([1, 2], {50: 1, 90: 2, 99: 2, 100: 2}),
        (list(range(1, 101)), {50: 50, 90: 90, 99: 99, 100: 100}),
        ([5] * 9 + [1000], {50: 5, 90: 5, 99: 1000, 100: 1000}),
    ],
)
def test_percentiles_are_nearest_rank(values, expected):
    assert stats.percentiles(Counter(values), (50, 90, 99, 100)) == expected


def test_a_segment_pages_until_the_end_and_reports_each_page():
    pages = []
    flow = stats.census_segment(CONFIG, NOW, 1, 2, on_page=pages.append)
    script = Script(flow)
    census = script.run(
        {"Items": [item("a")], "ScannedCount": 1, "LastEvaluatedKey": {"id": {"S": "a"}}},
        {"Items": [item("b", expires=1)], "ScannedCount": 3},
    )
    assert [step.params.get("ExclusiveStartKey") for step in script.steps] == [
        None,
        {"id": {"S": "a"}},
    ]
    assert (census.scanned, census.sessions, census.expired) == (4, 2, 1)
    assert pages == [
        stats.ScanProgress(2, segments_done=0, scanned=1),
        stats.ScanProgress(2, segments_done=1, scanned=3),
    ]


def test_segments_are_merged_into_the_table_stats():
    first, second = stats.Census(), stats.Census()
    first.count(item("a", user="u1", n=b"J1"), NOW, CONFIG)
    first.count(item("b", expires=NOW - 10, user="u2", n=b"Z1"), NOW, CONFIG)
    second.count(item("c", user="u1", n=b"E1"), NOW, CONFIG)
    second.count(item("d", expires=NOW - 50), NOW, CONFIG)
    first.scanned, second.scanned = 2, 2
    result = stats.summarize([first, second], NOW, segments=2)
    assert (result.sessions, result.expired, result.oldest_expired_seconds) == (4, 2, 50)
    assert (result.users, result.sessions_with_user) == (2, 3)
    assert result.sessions_per_user == {1: 1, 2: 1}  # one user with 1 session, one with 2
    assert result.to_json()["compressed_share"] == 0.25
    assert result.to_json()["sessions_per_user"] == {"1": 1, "2": 1}
    assert set(result.to_json()["size_bytes"]) == {"p50", "p90", "p99", "max"}


def test_an_empty_table():
    result = stats.summarize([stats.Census()], NOW, segments=4)
    assert result.to_json() == {
        "segments": 4,
        "scanned": 0,
        "sessions": 0,
        "expired": 0,
        "oldest_expired_seconds": None,
        "revocation_marks": 0,
        "size_bytes": {},
        "compressed": 0,
        "compressed_share": 0.0,
        "encrypted": 0,
        "encrypted_share": 0.0,
        "users": 0,
        "sessions_with_user": 0,
        "sessions_per_user": {},
    }
    assert "sessions: 0" in result.lines()[0]


def test_segments_are_checked_and_the_tally_adds_scan_progress():
    with pytest.raises(ConfigurationError):
        stats.segment_flows(CONFIG, NOW, 0, on_page=None)
    seen = []
    tally = scan.Tally(stats.ScanProgress(segments=2), seen.append)
    tally.add(stats.ScanProgress(2, segments_done=1, scanned=5))
    tally.add(stats.ScanProgress(2, segments_done=1, scanned=2))
    assert seen[-1] == stats.ScanProgress(2, segments_done=2, scanned=7)

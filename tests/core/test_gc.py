"""Garbage collection, pure: the scan and conditional-delete requests, and a segment's flow."""

import pytest
from test_flows import Script

from dynamodb_sessions import StoreConfig
from dynamodb_sessions._core import gc, requests, scan
from dynamodb_sessions._core.flows import Failed
from dynamodb_sessions.exceptions import ConfigurationError

CONFIG = StoreConfig(table="t", timeout=100)
CONFLICT = Failed("ConditionalCheckFailedException")
NOW = 5000


def test_scan_reads_only_expired_items_and_only_what_gc_needs():
    assert requests.scan_expired(CONFIG, now=NOW, segment=2, total_segments=4) == {
        "TableName": "t",
        "Segment": 2,
        "TotalSegments": 4,
        "FilterExpression": "#e < :now",
        "ProjectionExpression": "#k, #e, #v",
        "ExpressionAttributeNames": {"#k": "id", "#e": "expires", "#v": "version"},
        "ExpressionAttributeValues": {":now": {"N": "5000"}},
    }


def test_scan_keeps_to_this_apps_prefix_and_pages_on():
    params = requests.scan_expired(
        CONFIG.replace(key_prefix="shop:"),
        now=NOW,
        segment=0,
        total_segments=1,
        start_key={"id": {"S": "x"}},
    )
    assert params["FilterExpression"] == "#e < :now AND begins_with(#k, :prefix)"
    assert params["ExpressionAttributeValues"][":prefix"] == {"S": "shop:"}
    assert params["ExclusiveStartKey"] == {"id": {"S": "x"}}


def test_delete_is_conditional_on_still_expired_and_unchanged():
    assert requests.delete_expired(CONFIG, "k1", now=NOW, version=3) == {
        "TableName": "t",
        "Key": {"id": {"S": "k1"}},
        "ConditionExpression": "#e < :now AND #v = :version",
        "ExpressionAttributeNames": {"#e": "expires", "#v": "version"},
        "ExpressionAttributeValues": {":now": {"N": "5000"}, ":version": {"N": "3"}},
    }
    unversioned = requests.delete_expired(CONFIG, "k1", now=NOW, version=None)
    assert unversioned["ConditionExpression"] == "#e < :now"


def expired(key: str, version: int = 1) -> dict:
    return {"id": {"S": key}, "expires": {"N": str(NOW - 1)}, "version": {"N": str(version)}}


def test_a_segment_deletes_page_by_page_and_keeps_what_was_refreshed():
    pages: list[gc.GCReport] = []
    script = Script(gc.collect_segment(CONFIG, NOW, 1, 3, on_page=pages.append))
    report = script.run(
        {"Items": [expired("a"), expired("b")], "ScannedCount": 10, "LastEvaluatedKey": {"x": 1}},
        {},
        CONFLICT,  # b was refreshed between the scan and its delete
        {"Items": [expired("c", 4)], "ScannedCount": 5},
        {},
    )
    assert script.operations == ["scan", "delete_item", "delete_item", "scan", "delete_item"]
    assert script.steps[3].params["ExclusiveStartKey"] == {"x": 1}
    assert script.steps[4].params == requests.delete_expired(CONFIG, "c", now=NOW, version=4)
    assert report == gc.GCReport(
        segments=3, scanned=15, expired=3, deleted=2, kept=1, segments_done=1
    )
    assert [page.scanned for page in pages] == [10, 5]
    assert "2 deleted, 1 kept" in report.summary()


def test_a_dry_run_only_scans():
    script = Script(gc.collect_segment(CONFIG, NOW, 0, 1, dry_run=True))
    report = script.run({"Items": [expired("a")], "ScannedCount": 2})
    assert script.operations == ["scan"]
    assert (report.expired, report.deleted, report.dry_run) == (1, 0, True)
    assert "nothing deleted" in report.summary()


def test_segments_are_checked_and_each_gets_its_own_flow():
    with pytest.raises(ConfigurationError):
        gc.segment_flows(CONFIG, NOW, 0, dry_run=False, on_page=None)
    work = gc.segment_flows(CONFIG, NOW, 3, dry_run=False, on_page=None)
    assert [next(flow).params["Segment"] for flow in work] == [0, 1, 2]


def test_the_tally_reports_running_totals():
    seen: list[gc.GCReport] = []
    tally = scan.Tally(gc.GCReport(segments=2), seen.append)
    tally.add(gc.GCReport(segments=2, scanned=3, expired=1, deleted=1))
    tally.add(gc.GCReport(segments=2, scanned=4, segments_done=1))
    assert [r.scanned for r in seen] == [3, 7]
    assert tally.total == gc.GCReport(segments=2, scanned=7, expired=1, deleted=1, segments_done=1)

"""Garbage collection, pure: the scan and conditional-delete requests, and a segment's flow."""

import pytest
from test_flows import Script

from dynamodb_sessions import StoreConfig
from dynamodb_sessions._core import gc, requests
from dynamodb_sessions._core.flows import Failed
from dynamodb_sessions._core.steps import Sleep
from dynamodb_sessions.exceptions import BackendUnavailableError, ConfigurationError

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


def expired(key: str, version: int = 1, *, ago: int = 1) -> dict:
    return {"id": {"S": key}, "expires": {"N": str(NOW - ago)}, "version": {"N": str(version)}}


LONG_AGO = CONFIG.gc_margin + 1  # expired longer ago than the margin: batched
A, B, C = ("a" * 64, "b" * 64, "c" * 64)  # session keys (hex SHA-256)


def batch(*keys: str) -> dict:
    return {"RequestItems": {"t": [{"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in keys]}}


def test_a_segment_deletes_page_by_page_and_keeps_what_was_refreshed():
    pages: list[tuple[gc.GCReport, dict | None]] = []
    script = Script(
        gc.collect_segment(CONFIG, NOW, 1, 3, on_page=lambda p, k: pages.append((p, k)))
    )
    report = script.run(
        {"Items": [expired(A), expired(B)], "ScannedCount": 10, "LastEvaluatedKey": {"x": 1}},
        {},
        CONFLICT,  # b was refreshed between the scan and its delete
        {"Items": [expired(C, 4)], "ScannedCount": 5},
        {},
    )
    assert script.operations == ["scan", "delete_item", "delete_item", "scan", "delete_item"]
    assert script.steps[3].params["ExclusiveStartKey"] == {"x": 1}
    assert script.steps[4].params == requests.delete_expired(CONFIG, C, now=NOW, version=4)
    assert report == gc.GCReport(
        segments=3, scanned=15, expired=3, deleted=2, kept=1, segments_done=1
    )
    assert [(page.scanned, key) for page, key in pages] == [(10, {"x": 1}), (5, None)]
    assert "2 deleted, 1 kept" in report.summary()


def test_items_expired_beyond_the_margin_go_in_batches_of_25():
    old = [f"{i:064x}" for i in range(30)]
    script = Script(gc.collect_segment(CONFIG, NOW, 0, 1))
    report = script.run(
        {
            "Items": [expired(k, ago=LONG_AGO) for k in old] + [expired(A, ago=CONFIG.gc_margin)],
            "ScannedCount": 31,
        },
        {},
        {"UnprocessedItems": {}},
        {},  # A expired within the margin: its own conditional delete
    )
    assert script.operations == ["scan", "batch_write_item", "batch_write_item", "delete_item"]
    assert script.steps[1].params == batch(*old[:25])
    assert script.steps[2].params == batch(*old[25:])
    assert script.steps[3].params == requests.delete_expired(CONFIG, A, now=NOW, version=1)
    assert (report.deleted, report.batched, report.kept) == (31, 30, 0)


def test_revocation_marks_and_foreign_items_are_never_batched():
    mark = "user#" + "d" * 64
    script = Script(gc.collect_segment(CONFIG.replace(key_prefix="p:"), NOW, 0, 1))
    script.run(
        {"Items": [expired("p:" + mark, ago=LONG_AGO), expired("p:other", ago=LONG_AGO)]},
        {},
        {},
    )
    assert script.operations == ["scan", "delete_item", "delete_item"]


def test_the_margin_is_configurable_and_never_short():
    wide = CONFIG.replace(gc_margin=10 * LONG_AGO)
    script = Script(gc.collect_segment(wide, NOW, 0, 1))
    script.run({"Items": [expired(A, ago=LONG_AGO)]}, {})
    assert script.operations == ["scan", "delete_item"]
    with pytest.raises(ConfigurationError, match="at least 60"):
        CONFIG.replace(gc_margin=59)
    assert (
        StoreConfig.from_env({"AWS_DYNAMODB_SESSION_GC_MARGIN": "120"}, table="t").gc_margin == 120
    )


def test_unprocessed_items_and_throttling_are_retried_after_growing_waits(monkeypatch):
    monkeypatch.setattr(gc, "_jitter", lambda: 1.0)
    throttled = Failed("ProvisionedThroughputExceededException")
    script = Script(gc.collect_segment(CONFIG, NOW, 0, 1))
    report = script.run(
        throttled,  # the scan
        NOW,  # (the sleep's reply)
        {"Items": [expired(A, ago=LONG_AGO), expired(B, ago=LONG_AGO)]},
        {"UnprocessedItems": {"t": batch(B)["RequestItems"]["t"]}},
        NOW,
        throttled,
        NOW,
        {},
    )
    kinds = [type(step).__name__ for step in script.steps]
    assert kinds == ["Call", "Sleep", "Call", "Call", "Sleep", "Call", "Sleep", "Call"]
    assert "ProvisionedThroughputExceededException" in script.steps[0].handles
    assert [s.seconds for s in script.steps if isinstance(s, Sleep)] == [0.1, 0.1, 0.2]
    assert script.steps[5].params == batch(B) == script.steps[7].params
    assert (report.deleted, report.batched, report.throttled) == (2, 2, 3)


def test_throttling_without_end_gives_up_as_unavailable(monkeypatch):
    monkeypatch.setattr(gc, "_jitter", lambda: 0.0)
    throttled = Failed("ThrottlingException")
    script = Script(gc.collect_segment(CONFIG, NOW, 0, 1))
    replies = [throttled, NOW] * gc.THROTTLE_RETRIES + [throttled]
    with pytest.raises(BackendUnavailableError) as caught:
        script.run(*replies)
    assert (caught.value.code, caught.value.operation) == ("ThrottlingException", "scan")


def test_a_dry_run_only_scans():
    script = Script(gc.collect_segment(CONFIG, NOW, 0, 1, dry_run=True))
    report = script.run({"Items": [expired(A, ago=LONG_AGO)], "ScannedCount": 2})
    assert script.operations == ["scan"]
    assert (report.expired, report.deleted, report.dry_run) == (1, 0, True)
    assert "nothing deleted" in report.summary()


def test_segments_are_checked_and_each_gets_its_own_flow():
    with pytest.raises(ConfigurationError):
        gc.Run(CONFIG, NOW, 0)
    work = list(gc.Run(CONFIG, NOW, 3, page_size=7).flows())
    steps = [next(flow).params for flow in work]
    assert [(p["Segment"], p["Limit"]) for p in steps] == [(0, 7), (1, 7), (2, 7)]


def test_a_run_reports_running_totals_and_where_it_is():
    seen: list[gc.GCReport] = []
    saved: list[gc.GCCheckpoint] = []
    run = gc.Run(CONFIG, NOW, 2, progress=seen.append, checkpoint=saved.append)
    first, second = run.flows()
    Script(first).run(
        {"Items": [], "ScannedCount": 3, "LastEvaluatedKey": {"id": {"S": A}}},
        {"Items": [], "ScannedCount": 4},
    )
    assert [r.scanned for r in seen] == [3, 7]
    assert saved[0].next_keys == {0: {"id": {"S": A}}} and saved[0].done == set()
    assert saved[1].next_keys == {} and saved[1].done == {0}
    assert run.total == gc.GCReport(segments=2, scanned=7, segments_done=1)
    second.close()


def test_a_checkpoint_resumes_where_the_run_was():
    saved = gc.GCCheckpoint("t", 3, done={0}, next_keys={2: {"id": {"S": B}}})
    text = saved.dumps()
    again = gc.GCCheckpoint.loads(text, CONFIG)
    assert again == saved
    run = gc.Run(CONFIG, NOW, 8, resume=again)  # the checkpoint's segment count wins
    starts = [next(flow).params for flow in run.flows()]
    assert [(p["Segment"], p["TotalSegments"], p.get("ExclusiveStartKey")) for p in starts] == [
        (1, 3, None),
        (2, 3, {"id": {"S": B}}),
    ]
    assert run.total.segments_done == 1


@pytest.mark.parametrize(
    "text",
    [
        "nonsense",
        '{"table": "other", "segments": 2, "done": [], "next": {}}',
        '{"table": "t", "segments": 2, "done": [5], "next": {}}',
        '{"table": "t", "segments": 2, "done": [], "next": {"0": {"id": {"N": "1"}}}}',
        '{"table": "t", "segments": 2, "done": [], "next": {"3": {"id": {"S": "k"}}}}',
    ],
)
def test_a_wrong_checkpoint_is_refused(text):
    with pytest.raises(ConfigurationError):
        gc.GCCheckpoint.loads(text, CONFIG)


def test_a_stopped_run_ends_its_flows_at_their_next_step():
    run = gc.Run(CONFIG, NOW, 2)
    first, second = run.flows()
    assert next(first).operation == "scan"
    run.stop()
    with pytest.raises(StopIteration) as done:
        first.send({"Items": [expired(A)], "LastEvaluatedKey": {"id": {"S": A}}})
    assert done.value.value == gc.GCReport(segments=2)
    with pytest.raises(StopIteration):
        next(second)

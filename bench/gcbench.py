"""GC throughput: expired items deleted per second by ``store.gc(segments=k)``, against a
sequential Scan + BatchWriteItem delete (25 keys a call, unconditional) on the same table.

Each run starts from the same ``items`` items (0.5 KB of data each) that expired two hours
before (beyond GC's one-hour margin, so GC deletes them in batches too), written just before
it (not timed). With ``rtt_ms`` every timed call goes through bench/latency.py's proxy, which
adds that round trip. Rounds rotate the order of the variants; the ratio is each variant's
items/s over the baseline's in the same round, and the result is the median of those.

    python -m bench.gcbench --rtt-ms 5 --items 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._common import ROOT, TIMEOUT, Clock, dynalite, median, new_table, session_data
from bench.latency import latency_proxy
from bench.report import replace_section
from dynamodb_sessions import Codec, SessionStore
from dynamodb_sessions._core.items import build_item
from dynamodb_sessions.ids import new_session_id, storage_key

SEGMENTS = (1, 2, 4, 8)
BASELINE = "scan + batch delete"


@dataclass
class GCResult:
    variant: str
    items_per_s: float
    ratio: float
    ratios: list[float]


def _populate(client: Any, cfg: Any, items: int, now: int) -> None:
    codec = Codec(compress_threshold=cfg.compress_threshold)
    data = session_data(512)
    old = now - 3 * TIMEOUT
    batch: list[dict[str, Any]] = []
    for _ in range(items):
        key = storage_key(new_session_id())
        item = build_item(
            key,
            {name: codec.encode_value(name, value, item_key=key) for name, value in data.items()},
            now=old,
            created=old,
            timeout=TIMEOUT,
            version=1,
            user_id=None,
            config=cfg,
        )
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25 or _ == items - 1:
            _batch_write(client, cfg.table, batch)
            batch = []


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for _ in range(50):  # bounded: unprocessed items are re-sent
        if not pending:
            return
        pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    raise RuntimeError("BatchWriteItem kept leaving items unprocessed")


def baseline_gc(client: Any, table: str, now: int) -> int:
    """Sequential Scan for expired items, deleted by BatchWriteItem 25 keys at a time."""
    deleted = 0
    start: dict[str, Any] | None = None
    while True:
        params: dict[str, Any] = {
            "TableName": table,
            "FilterExpression": "#e < :now",
            "ProjectionExpression": "#k",
            "ExpressionAttributeNames": {"#e": "expires", "#k": "id"},
            "ExpressionAttributeValues": {":now": {"N": str(now)}},
        }
        if start:
            params["ExclusiveStartKey"] = start
        reply = client.scan(**params)
        keys = [{"DeleteRequest": {"Key": {"id": item["id"]}}} for item in reply.get("Items", [])]
        for i in range(0, len(keys), 25):
            _batch_write(client, table, keys[i : i + 25])
        deleted += len(keys)
        start = reply.get("LastEvaluatedKey")
        if not start:
            return deleted


def measure(
    endpoint: str,
    items: int,
    rounds: int,
    rtt_ms: float = 0.0,
    segments: tuple[int, ...] = SEGMENTS,
) -> list[GCResult]:
    with latency_proxy(endpoint, rtt_ms) as timed:
        return _measure(endpoint, timed, items, rounds, segments)


def _measure(
    endpoint: str, timed: str, items: int, rounds: int, segments: tuple[int, ...]
) -> list[GCResult]:
    cfg = new_table(endpoint, "gc")
    clock = Clock()
    store = SessionStore(cfg, clock=clock)
    far = cfg.replace(connection=dataclasses.replace(cfg.connection, endpoint_url=timed))
    far_store = SessionStore(far, clock=clock)
    variants = [BASELINE, *(f"gc(segments={k})" for k in segments)]
    rates: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for round_ in range(rounds):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                clock.now = float(int(time.time()))
                _populate(store.client, cfg, items, int(clock.now))
                start = time.perf_counter()
                if variant == BASELINE:
                    deleted = baseline_gc(far_store.client, cfg.table, int(clock.now))
                else:
                    width = int(variant.split("=")[1].rstrip(")"))
                    deleted = far_store.gc(segments=width).deleted
                elapsed = time.perf_counter() - start
                if deleted != items:
                    raise RuntimeError(f"{variant} deleted {deleted} of {items}")
                rates[variant].append(items / elapsed)
    finally:
        store.client.delete_table(TableName=cfg.table)
        store.close()
        far_store.close()
    results = []
    for variant in variants:
        ratios = [r / b for r, b in zip(rates[variant], rates[BASELINE], strict=True)]
        results.append(GCResult(variant, median(rates[variant]), median(ratios), ratios))
    return results


SECTION = "gc-latency"


def markdown(
    results: list[GCResult], args: argparse.Namespace, loads: tuple[float, float]
) -> list[str]:
    lines = [
        f"## GC at a modelled {args.rtt_ms:g} ms round trip",
        "",
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{loads[0]:.1f} at the start and {loads[1]:.1f} at the end (2 CPUs, shared), with:",
        "",
        "```sh",
        f"PYTHONPATH=src:. .venv/bin/python -m bench.gcbench --rtt-ms {args.rtt_ms:g} "
        f"--items {args.items} --rounds {args.rounds} --segments {args.segments}",
        "```",
        "",
        f"{args.items} items that expired two hours before (beyond GC's one-hour margin, so",
        "GC deletes them in BatchWriteItems), written before each run (not timed); each call",
        f"goes through bench/latency.py's proxy, which adds {args.rtt_ms:g} ms to it. The",
        "baseline is a sequential Scan + BatchWriteItem (25 keys a call) through botocore's",
        "client, as a script written with boto3 would do it; `gc(segments=k)` scans k",
        "segments at once (threads, at most the pool of 10) through the store's default lean",
        "transport. `gc` defaults to 4 segments (the CLI too). Rounds rotate the order; the",
        "ratio is the median of the per-round ratios.",
        "",
        "| variant | items/s | vs baseline | per round |",
        "|---|---|---|---|",
    ]
    for r in results:
        rounds = ", ".join(f"{x:.2f}" for x in r.ratios)
        lines.append(f"| {r.variant} | {r.items_per_s:.0f} | {r.ratio:.2f}x | {rounds} |")
    lines += [
        "",
        "GC's calls per item are the baseline's (its share of a Scan page, a 25th of a",
        "BatchWriteItem); what it gains is the lean transport's lighter calls (one segment",
        "against the baseline) and overlapping the round trips (more segments), up to what the",
        "engine's CPU allows: dynalite is one Node process sharing the machine's CPUs with the",
        "benchmark and the proxy (and, on a shared machine, whatever else runs), so the",
        "per-round ratios move with the load.",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gcbench", description=__doc__)
    parser.add_argument("--rtt-ms", type=float, default=5.0, help="modelled round trip (5)")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--segments", default="1,4,8", help="gc() variants (1,4,8)")
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"), help="report page")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    widths = tuple(int(k) for k in args.segments.split(","))
    before = os.getloadavg()[0]
    with dynalite() as endpoint:
        results = measure(endpoint, args.items, args.rounds, args.rtt_ms, widths)
    lines = markdown(results, args, (before, os.getloadavg()[0]))
    print("\n".join(lines))
    if not args.no_write:
        replace_section(Path(args.out), SECTION, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The benchmark in smoke mode (tiny sizes, its own dynalite), so it cannot rot. It checks the
structure of the results and the call floor exactly; never any timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = {"WSGI", "Flask", "Django", "Starlette"}


def test_benchmark_smoke_run(tmp_path: Path) -> None:
    out, raw = tmp_path / "benchmarks.md", tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench", "--smoke", "--no-plots"]
    done = subprocess.run(
        [*command, "--out", str(out), "--json", str(raw)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(raw.read_text())

    calls = {(row["adapter"], row["kind"]): row for row in results["calls"]}
    assert {adapter for adapter, _ in calls} == ADAPTERS
    for adapter in ADAPTERS:
        # The floor, exactly: nothing for an unused session, one read, one read and one write.
        assert calls[adapter, "no cookie, unused"]["operations"] == []
        assert calls[adapter, "read-only"]["operations"] == ["GetItem"]
        assert calls[adapter, "modified"]["operations"] == ["GetItem", "UpdateItem"]
        assert calls[adapter, "new"]["operations"] == ["PutItem"]
        assert calls[adapter, "rotation"]["operations"] == ["GetItem", "PutItem", "DeleteItem"]
        # Only sets: no read where the session loads lazily (WSGI, Flask: a blind write).
        blind = adapter in ("WSGI", "Flask")
        expected = ["UpdateItem"] if blind else ["GetItem", "UpdateItem"]
        assert calls[adapter, "set only"]["operations"] == expected
        assert all(row["status"] == 200 for (a, _), row in calls.items() if a == adapter)
        # dynalite's ReturnConsumedCapacity agrees with the units computed from item sizes.
        assert all(row["agrees"] for (a, _), row in calls.items() if a == adapter)

    mix = results["mix"]
    assert mix["ours"]["requests"] == mix["baseline"]["requests"] == mix["requests"] > 0
    assert mix["baseline"]["calls"]["PutItem"] == mix["requests"]  # writes on every request
    assert mix["ours"]["wcu"] < mix["baseline"]["wcu"]
    assert {row["adapter"] for row in results["overhead"]} == ADAPTERS
    assert all(row["ratio"] > 0 for row in results["overhead"])
    assert {row["kind"] for row in results["concurrency"]} == {"read-only", "modified"}
    assert results["gc"][0]["variant"] == "scan + batch delete"
    assert len(results["gc"]) == 5
    assert (
        set(results["profile"]["cpu_us"])
        == set(results["profile"]["merge_us"])
        == {"before", "after"}
    )

    text = out.read_text()
    for heading in (
        "## 1. DynamoDB calls",
        "## 2. Capacity units per 1,000 requests",
        "## 3. Overhead",
        "## 4. Sync vs async",
        "## 5. GC throughput",
        "## 6. Profile",
    ):
        assert heading in text
    assert "python -m bench --smoke" in text

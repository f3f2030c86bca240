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
    # This tree's source, whatever the virtualenv's editable install points at.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, "-m", "bench", "--smoke", "--no-plots"]
    done = subprocess.run(
        [*command, "--out", str(out), "--json", str(raw)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        # Only a bound on a hang: the smoke run takes about a minute alone, and several times
        # that on a machine busy with a second copy of the suite.
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(raw.read_text())

    lean = results["transport"]
    assert set(lean["cpu_ms"]) == {"botocore", "lean", "aiobotocore", "lean async"}
    assert set(lean["per_second"]) == ADAPTERS
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
    for by_modify in mix["runs"].values():
        assert set(by_modify) == {"set-only", "read-modify-write"}
        for modify, runs in by_modify.items():
            ours, flask, _, ours_old_index, base, base_old_index = runs
            # The keys-only index is written only when a session enters it (a new signed-in
            # session), never by a save or a refresh; 0.1's index also by every save.
            assert ours["index_wcu"] == ours["calls"]["PutItem"] == base["index_wcu"] > 0
            assert ours_old_index["index_wcu"] > ours["index_wcu"]
            assert base_old_index["index_wcu"] == base_old_index["calls"]["PutItem"]
            # A modification: one UpdateItem, after a read only where it reads (WSGI, and
            # Flask with session.permanent set before every view).
            for run in (ours, flask):
                modified = run["kinds"]["modified"]
                n = modified["requests"]
                expected = {"UpdateItem": n}
                if modify == "read-modify-write":
                    expected["GetItem"] = n
                assert n > 0 and modified["calls"] == expected, (run["variant"], modified)
            assert all(run["refused"] == 0 for run in runs)  # no write wasted on a condition
    assert {row["adapter"] for row in results["overhead"]} == ADAPTERS
    assert all(row["ratio"] > 0 for row in results["overhead"])
    assert {row["kind"] for row in results["concurrency"]} == {"read-only", "modified"}
    wire = results["wire"]
    assert {(row["adapter"], row["threads"]) for row in wire} == {
        (adapter, threads) for adapter in ADAPTERS for threads in (2, 4)
    }
    for row in wire:  # exact counts at the proxy: one read and one update per request
        assert (row["kept"], row["unavailable"], row["other_calls"]) == (row["total"], 0, 0)
        assert row["get_items"] == row["update_items"] == 1.0
    assert results["gc"][0]["variant"] == "scan + batch delete"
    assert len(results["gc"]) == 5
    assert (
        set(results["profile"]["cpu_us"])
        == set(results["profile"]["merge_us"])
        == {"before", "after"}
    )

    # The peers, here through the latency proxy (bench/latency.py): our calls are the floor's.
    peers = {(row["framework"], row["kind"]): row for row in results["peers"]}
    assert set(peers) == {
        (framework, kind)
        for framework in ("Flask", "Django")
        for kind in ("read-only", "modified", "unused")
    }
    assert all(row["rtt_ms"] == 5 and row["rps"]["ours"] > 0 for row in peers.values())
    for framework in ("Flask", "Django"):
        assert peers[framework, "read-only"]["calls"]["ours"] == ["GetItem"]
        assert peers[framework, "modified"]["calls"]["ours"] == ["GetItem", "UpdateItem"]
        assert peers[framework, "unused"]["calls"]["ours"] == []
    inflight = results["inflight"]
    assert [(row["kind"], row["in_flight"]) for row in inflight] == [("read-only", 2)]
    assert inflight[0]["rps"]["sync"] > 0
    assert inflight[0]["rps"]["async"] > 0
    assert inflight[0]["peak_mb"]["sync"] > 0

    text = out.read_text()
    for heading in (
        "## 1. DynamoDB calls",
        "## 2. Capacity units per 1,000 requests",
        "## 3. Overhead",
        "## 4. Sync vs async",
        "## 5. GC throughput",
        "## 6. Profile",
        "## 7. Against the peers",
        "## 8. Sync vs async at a modelled 5 ms",
        "## 9. One session, many requests at once",
        "## 10. botocore against the lean transport",
    ):
        assert heading in text
    assert "python -m bench --smoke" in text

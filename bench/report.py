"""The report: a console summary, docs/benchmarks.md, and its PNG plots (matplotlib)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import inflight, peers
from bench._common import dynalite_version
from bench.calls import FLOOR, KINDS
from bench.mix import MODIFICATIONS
from bench.mix import kinds_table as mix_kinds_table
from bench.mix import table as mix_table
from bench.mix import targets as mix_targets
from bench.overhead import GOAL

# Benchmarks that run on their own (``python -m bench.<name>``) keep their section of the page
# between these markers; a full ``python -m bench`` run keeps those sections as they are.
_BEGIN, _END = "<!-- section: {} -->", "<!-- /section: {} -->"


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("<!-- section: ") and line.endswith(" -->"):
            name = line[len("<!-- section: ") : -len(" -->")]
            end = lines.index(_END.format(name), i)
            found[name] = lines[i : end + 1]
    return found


def kept_sections(out: Path) -> list[str]:
    """The standalone benchmarks' sections in the page at ``out``, markers included."""
    text = out.read_text() if out.exists() else ""
    return [line for block in _sections(text).values() for line in [*block, ""]]


def replace_section(out: Path, name: str, body: list[str]) -> None:
    """Put ``body`` (markdown lines, its heading first) as section ``name`` of the page at
    ``out``: in place of the section's previous run, else before the caveats at the end."""
    block = [_BEGIN.format(name), *body, _END.format(name)]
    lines = out.read_text().splitlines() if out.exists() else []
    old = _sections("\n".join(lines)).get(name)
    if old is not None:
        start = lines.index(old[0])
        lines[start : start + len(old)] = block
    else:
        at = lines.index("## Caveats") if "## Caveats" in lines else len(lines)
        lines[at:at] = [*block, ""]
    out.write_text("\n".join(lines) + "\n")


def environment() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        node_version = node.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        node_version = "?"
    versions = {}
    for dist in ("dynamodb-sessions", "botocore", "aiobotocore", "Django", "Flask", "starlette"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "-"
    return {
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "node": node_version,
        "dynalite": dynalite_version(),
        **versions,
    }


def _units(rcu: float, wcu: float) -> str:
    parts = []
    if rcu:
        parts.append(f"{rcu:g} RCU")
    if wcu:
        parts.append(f"{wcu:g} WCU")
    return ", ".join(parts) or "0"


def _calls_table(rows: list[Any], adapters: list[str]) -> list[str]:
    cells = {(r.adapter, r.kind): r for r in rows}
    lines = ["| request | " + " | ".join(adapters) + " |", "|---" * (len(adapters) + 1) + "|"]
    for kind in KINDS:
        out = []
        for adapter in adapters:
            r = cells.get((adapter, kind))
            if r is None:
                out.append("-")
                continue
            ops = " + ".join(r.operations) or "none"
            out.append(f"{ops} ({_units(r.rcu, r.wcu)})")
        lines.append(f"| {kind} | " + " | ".join(out) + " |")
    return lines


def summary(results: dict[str, Any]) -> str:
    lines = ["", "DynamoDB calls per request (capacity units from item sizes)"]
    adapters = list(dict.fromkeys(r.adapter for r in results["calls"]))
    for kind in KINDS:
        cells = [r for r in results["calls"] if r.kind == kind]
        text = "  ".join(
            f"{r.adapter}: {'+'.join(r.operations) or '-'} [{_units(r.rcu, r.wcu)}]" for r in cells
        )
        lines.append(f"  {kind:24s} {text}")
    m = results["mix"]
    for data, by_modify in m.get("runs", {}).items():
        for modify, runs in by_modify.items():
            lines.append("")
            lines.append(f"Mix, {data} sessions, {modify} ({m['requests']} requests each):")
            lines += mix_table(runs)
        lines += mix_targets(by_modify)
    lines.append("")
    lines.append(f"Overhead vs the bare framework + one raw GetItem (goal <= {GOAL}):")
    for o in results["overhead"]:
        lines.append(
            f"  {o.adapter:10s} {o.ratio:.3f}  ({o.adapter_ms:.2f} ms vs {o.bare_ms:.2f} ms)"
        )
    lines.append("")
    for c in results["concurrency"]:
        lines.append(
            f"Sync vs async, {c.kind}, {c.concurrency} in flight: WSGI threads "
            f"{c.sync_rps:.0f} req/s, ASGI async {c.async_rps:.0f} req/s (async/sync {c.ratio:.2f})"
        )
    lines.append("")
    lines.append("GC throughput (expired items deleted per second):")
    for g in results["gc"]:
        lines.append(f"  {g.variant:22s} {g.items_per_s:8.0f}/s  x{g.ratio:.2f} of the baseline")
    p = results["profile"]
    lines.append("")
    lines.append(
        f"Read path, the load's merge (20 keys): before the fix {p.merge_us['before']:.1f} us, "
        f"after {p.merge_us['after']:.1f} us; whole request CPU (stubbed client) "
        f"{p.cpu_us['before']:.0f} us -> {p.cpu_us['after']:.0f} us"
    )
    lines.append("")
    lines.append("One session, each client its own key, counted at the wire:")
    for w in results["wire"]:
        lines.append(
            f"  {w.adapter:10s} {w.threads:3d} x {w.requests:<3d} kept {w.kept}/{w.total}  "
            f"GetItem {w.get_items:.2f}/req  UpdateItem {w.update_items:.2f}/req  "
            f"other {w.other_calls}  503s {w.unavailable}  {w.rps:.0f} req/s"
        )
    lines.append("Against the peers (ours / peer, requests per second):")
    for r in results["peers"]:
        if r.ratio is not None:
            lines.append(
                f"  {r.framework:7s} {r.kind:10s} rtt {r.rtt_ms:g} ms: {r.ratio:.2f}x"
                + (f"  (vs before {r.before_ratio:.2f}x)" if r.before_ratio else "")
            )
    for f in results["inflight"]:
        lines.append(
            f"At +{f.rtt_ms:g} ms, {f.kind}, {f.in_flight} in flight: sync {f.rps['sync']:.0f} "
            f"req/s, async {f.rps['async']:.0f} req/s; peak RSS {f.peak_mb['sync']:.0f} / "
            f"{f.peak_mb['async']:.0f} MB"
        )
    del adapters
    return "\n".join(lines)


def _plots(results: dict[str, Any], folder: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    made = {}

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
        made[name] = f"{folder.name}/{name}.png"

    m = results["mix"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    shown = {
        "ours, set-only": m["ours"],
        "ours, read-modify-write": m["ours_read_modify_write"],
        "writes every request": m["baseline"],
    }
    labels = list(shown)
    rcu = [r.per_1000(r.rcu) for r in shown.values()]
    wcu = [r.per_1000(r.wcu) for r in shown.values()]
    index = [r.per_1000(r.index_wcu) for r in shown.values()]
    ax.bar(labels, rcu, label="RCU")
    ax.bar(labels, wcu, bottom=rcu, label="WCU")
    ax.bar(labels, index, bottom=[r + w for r, w in zip(rcu, wcu, strict=True)], label="index WCU")
    ax.set_ylabel("capacity units per 1,000 requests")
    ax.set_title("Realistic mix (70% read, 20% modify, 10% new; 2 KB)")
    ax.tick_params(axis="x", labelsize=8)
    ax.legend()
    save(fig, "mix")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = [o.adapter for o in results["overhead"]]
    ax.bar(names, [o.ratio for o in results["overhead"]], color="tab:blue")
    for i, o in enumerate(results["overhead"]):
        ax.plot([i] * len(o.ratios), o.ratios, "k.", alpha=0.4)
    ax.axhline(GOAL, color="tab:red", linestyle="--", label=f"goal {GOAL}")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_ylabel("time ratio (median; dots: rounds)")
    ax.set_title("Read-only request vs bare framework + one raw GetItem")
    ax.legend(loc="lower right")
    save(fig, "overhead")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    conc = results["concurrency"]
    x = range(len(conc))
    ax.bar(
        [i - 0.2 for i in x], [c.sync_rps for c in conc], 0.4, label="WSGI + SessionStore, threads"
    )
    ax.bar(
        [i + 0.2 for i in x],
        [c.async_rps for c in conc],
        0.4,
        label="ASGI + AsyncSessionStore, asyncio",
    )
    ax.set_xticks(list(x), [f"{c.kind}\n{c.concurrency} in flight" for c in conc], fontsize=8)
    ax.set_ylabel("requests per second")
    ax.set_title("Sync vs async")
    ax.legend(fontsize=8)
    save(fig, "concurrency")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    gcs = results["gc"]
    ax.bar(
        [g.variant.replace("gc(segments=", "segments ").rstrip(")") for g in gcs],
        [g.items_per_s for g in gcs],
        color=["tab:grey"] + ["tab:blue"] * (len(gcs) - 1),
    )
    ax.set_ylabel("expired items deleted per second")
    ax.set_title("GC: conditional deletes by segments vs scan + batch delete")
    ax.tick_params(axis="x", labelsize=8)
    save(fig, "gc")
    return made


def _transport_section(results: dict[str, Any]) -> list[str]:
    """Section 8: botocore against the lean transport (absent from runs made before it)."""
    result = results.get("transport")
    if result is None:
        return []
    from bench.transport import table

    return [
        "## 10. botocore against the lean transport",
        "",
        '`bench/transport.py` (`Connection(transport="lean")`, the default; see the guide). CPU',
        "(`time.process_time`) per strongly consistent GetItem of a 1,500-byte item, the median",
        f"of {result.rounds} rounds of {result.n} calls, the clients' rounds interleaved; then",
        "read-only requests per second through each adapter on each transport (in-process calls,",
        "the round trip to dynalite included, so the ratio is below the CPU ratio):",
        "",
        *table(result),
        "",
        "The sync lean transport speaks HTTP/1.1 itself (the whole request in one send, the",
        "answer read with bytes operations: `_core/http.py`; urllib3 only through a proxy), so",
        "its call is mostly its own JSON, signing and parsing and the socket; the async one",
        "sends through aiohttp.",
        "",
    ]


def mix_section(m: dict[str, Any]) -> list[str]:
    """Section 2's text and tables (the mix of ``bench/mix.py``), after its heading."""
    lines = [
        f"{m['users']} signed-in users each make a request every {m.get('interval', 30)} s for"
        f" {m['minutes']} "
        f"minutes ({m['requests']} requests; the stores' clock is injected, so the time passes",
        "in seconds): 70% read-only, 20% modify the session, 10% come from a new visitor who",
        "signs in as a new user and stores a session. The modifications are run both ways, each",
        "a mix of its own:",
        "",
        *(f"- *{name}*: {text}." for name, text in MODIFICATIONS.items()),
        "",
        "The requests go through the WSGI middleware, and through Flask with the common",
        "`before_request` that sets `session.permanent = True` (both load lazily, so a set-only",
        "request is a real blind write); Django's `SessionBase` and Starlette read the session",
        "before any write, so a set-only request costs them what a read-modify-write does.",
        "",
        "The baseline is the common design (the AWS SDK for PHP's session handler that",
        "silverstripe-dynamodb wraps, Flask-Session): a read on every request that has a",
        "cookie, then a write of the whole item at the end of every request. It is a small",
        "middleware in `bench/mix.py` that builds its items exactly as this library does (same",
        "codec, same attributes, the user id), so only the call pattern differs. Its reads are",
        "strongly consistent, as PHP's handler's are by default, and must be: a design that",
        "writes back the whole item it read would undo the last request's change after a stale",
        "read. A new visitor's request (no cookie) reads nothing, as the Python backends do;",
        "PHP's handler also reads a new id once (one read unit per new visitor, 10% of the",
        "requests: about 3% of the baseline's total). Every variant serves the same requests in",
        "the same order, on a table of its own made by `create-table` (a keys-only user index),",
        "or with the user index as 0.1 made it (projecting `created`, `accessed`,",
        "`pinned_timeout`, `expires`).",
        "",
        "Every session has a user, so it is in the user index; *index WCU* are that index's",
        "write units, computed by DynamoDB's rules from the item before and after each write",
        "(dynalite reports none): entering or leaving the index one write, a change of a",
        "projected attribute one, anything else none. *vs baseline* is the total over the",
        "baseline's on a table with the same index. The second table of each mix is the",
        "average cost of one request of each kind: its calls, then RCU + WCU + index WCU.",
        "",
    ]
    for data, by_modify in m.get("runs", {}).items():
        for modify, runs in by_modify.items():
            lines += [
                f"**{data} sessions, {modify} modifications** (an item of "
                f"{m['sizes'][data]} bytes):",
                "",
                *mix_table(runs),
                "",
                *mix_kinds_table(runs),
                "",
            ]
        lines += [f"Issue 15's targets, {data} sessions:", "", *mix_targets(by_modify), ""]
    every = [r for by_modify in m.get("runs", {}).values() for rs in by_modify.values() for r in rs]
    lines += [
        "dynalite's reported table units agree with the computed ones on every call: "
        f"{'yes' if all(r.agrees for r in every) else 'NO'}. Writes refused by their condition"
        f" (charged all the same): {sum(r.refused for r in every)}.",
        "",
    ]
    lines += [
        "Where the units go (2 KB, default mode): a read-only request reads the item (1 RCU);",
        "an expiry refresh (an UpdateItem priced at the whole item, 2 WCU) comes only once 6",
        "minutes of the one-hour timeout have passed since the last write (`touch_after`),",
        "so at one request every 30 s it is rare; a user whose requests are 6 minutes or more",
        "apart pays it on every read-only request, which then costs what the baseline's does",
        "(`python -m bench.mix --interval 600` measures that). A set-only modification is one",
        "blind UpdateItem (2 WCU); a read-modify-write one adds its read (1 RCU). A new",
        "visitor's session is a PutItem",
        "(2 WCU) and its index entry (1 WCU), and its log-in reads the user's revocation mark",
        "(1 RCU, strongly consistent: design.md, log out everywhere), which the baseline does",
        "not do. The floor of the set-only mix without that read is 0.7 RCU + 0.2 x 2 WCU +",
        "0.1 x 3 WCU = 1.4 units per request against the baseline's 3.0 (0.9 RCU + 2 WCU +",
        "0.1 index WCU): 0.47x, above the 0.45x target; with eventually consistent reads 1.05",
        "units, 0.35x. Writes are what costs: at on-demand prices of $0.125 per million read",
        "units and $0.625 per million write units (us-east-1 at the time of writing; check",
        "yours).",
        "",
    ]
    return lines


def write(results: dict[str, Any], out: Path, *, plots: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    images = _plots(results, out.with_suffix("")) if plots else {}
    env = results["environment"]
    adapters = list(dict.fromkeys(r.adapter for r in results["calls"]))
    m = results["mix"]
    ours, base = m["ours"], m["baseline"]
    agree_calls = all(r.agrees for r in results["calls"])
    floor_ok = all(r.operations == FLOOR[r.kind] for r in results["calls"] if r.kind in FLOOR)
    lines = [
        "# Benchmarks",
        "",
        "What a session costs in DynamoDB calls and capacity units, and in time, measured in one",
        "run on dynalite (a local DynamoDB-API server) with every adapter of this library.",
        "Regenerate this page with:",
        "",
        "```sh",
        f".venv/bin/{results['command']}",
        "```",
        "",
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(results.get('finished')))} "
        f"({results['mode']} sizes, "
        f"{results['seconds']:.0f} s). Machine: {env['machine']}, {env['cpu']}; load average "
        f"{results['load_before']:.1f} at the start, {results['load_after']:.1f} at the end (a",
        "shared machine: other test suites ran at the same time, which is why every timing",
        "below is a median of per-round ratios of variants run alternately).",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("machine", "cpu"))
        + ".",
        "",
        "## 1. DynamoDB calls and capacity units per request",
        "",
        "Counted at the client (botocore events on the store's own client, so these runs use",
        '`transport="botocore"`: the calls are the same on the default lean transport). Capacity',
        "units are",
        "computed from the item sizes by DynamoDB's rules: a strongly consistent read",
        "ceil(size / 4 KB) RCU, 1 for a missing item; a write ceil(size / 1 KB) WCU of the larger",
        "of the item before and after (an UpdateItem too, so refreshing the expiry of a "
        f"{m['item_bytes'] / 1024:.1f} KB",
        "item costs as much as rewriting it), also when its condition fails. Sessions hold 2 KB",
        f"of JSON data (random text; zlib packs it to a {m['item_bytes']}-byte item). The session",
        "timeout is one hour; its expiry is refreshed once a tenth of it has passed.",
        "",
        *_calls_table(results["calls"], adapters),
        "",
        "What the requests do: " + "; ".join(f"*{k}*: {v}" for k, v in KINDS.items()) + ".",
        "",
        f"- The floor holds for every adapter: {'yes' if floor_ok else 'NO'} (no call for an "
        "unused session, one GetItem for a read-only one, GetItem + UpdateItem for a",
        "  modified one).",
        "- A request that only sets keys costs one UpdateItem and no read with WSGI and Flask,",
        "  whose sessions load lazily (a blind write, conditional on the item still being",
        "  valid); Django's `SessionBase` loads on any access, and Starlette before the app.",
        "- Starlette/FastAPI reads the session of a request that carries a cookie even when the",
        "  endpoint never looks at it: an ASGI app reads `request.session` without `await`, so",
        "  the middleware must load before the app runs (see the README).",
        "- Django refreshes an unchanged session's expiry only with `SESSION_SAVE_EVERY_REQUEST`",
        "  (Django's own rule), hence no UpdateItem in its *refresh due* row.",
        "- Rotation writes the session under its new id first, then deletes the old item, so a",
        "  failure half way leaves the user signed in.",
        "- Cross-check: dynalite's own `ReturnConsumedCapacity=TOTAL` figures (requested on every",
        "  call by a `provide-client-params` hook) agree with the computed ones on every call: "
        f"{'yes' if agree_calls and ours.agrees and base.agrees else 'NO'}.",
        "",
        "## 2. Capacity units per 1,000 requests: a realistic mix",
        "",
        *mix_section(m),
    ]
    if "mix" in images:
        lines += [f"![capacity units per 1,000 requests]({images['mix']})", ""]
    lines += [
        "## 3. Overhead against the limit",
        "",
        "A read-only request through each adapter with its store, over the same framework's",
        "bare request whose view makes one raw GetItem (same client configuration, strongly",
        "consistent) of an item of the same size. Called in-process (a direct WSGI or ASGI",
        "call, no socket), so framework and DynamoDB time are all there is. The bare views make",
        "their GetItem with botocore's client (aiobotocore's for Starlette), as an app doing it",
        "itself would; the stores use the default lean transport (section 10), which is why a",
        "whole request through an adapter can cost less than the bare one. Each round times",
        f"{results['sizes']['overhead']['n']} pairs of requests, alternating which goes first;",
        "the ratio is the median over "
        f"{results['sizes']['overhead']['rounds']} rounds of the per-round ratio of median times.",
        f"The goal is at most {GOAL}.",
        "",
        "| adapter | ratio | per round | adapter request | bare request |",
        "|---|---|---|---|---|",
    ]
    for o in results["overhead"]:
        spread = ", ".join(f"{r:.2f}" for r in o.ratios)
        mark = "" if o.ratio <= GOAL else " (over the goal)"
        lines.append(
            f"| {o.adapter} | **{o.ratio:.3f}**{mark} | {spread} | {o.adapter_ms:.2f} ms | "
            f"{o.bare_ms:.2f} ms |"
        )
    lines += [""]
    if "overhead" in images:
        lines += [f"![overhead ratios]({images['overhead']})", ""]
    c0 = results["concurrency"][-1]
    lines += [
        "## 4. Sync vs async (ASGI)",
        "",
        f"1 and {c0.concurrency} requests in flight, each worker on a session of its own (2 KB):",
        "",
        "- **async**: the Starlette middleware on `AsyncSessionStore` (the default lean",
        "  transport, on aiohttp), one event",
        "  loop, one task per request in flight, each sending requests one after another",
        "  (direct ASGI calls);",
        "- **sync**: the WSGI middleware on `SessionStore` (the default lean transport) in a",
        "  pool of one thread per",
        "  request in flight, as a threaded WSGI server runs it (direct WSGI calls).",
        "",
        "Both keep a pool of 10 connections (`max_pool_connections`). Rounds alternate which",
        "goes first; the ratio is the median of the per-round async/sync throughput ratios.",
        "",
        "| requests | in flight | sync (threads) | async (asyncio) | async / sync |",
        "|---|---|---|---|---|",
    ]
    for c in results["concurrency"]:
        lines.append(
            f"| {c.kind} | {c.concurrency} | {c.sync_rps:.0f} req/s | {c.async_rps:.0f} req/s "
            f"| {c.ratio:.2f} |"
        )
    lines += [
        "",
        "Read this as: on a local engine neither is a throughput win. dynalite shares this",
        "machine's CPUs with the benchmark, so both variants are bound by CPU (the engine's and",
        "Python's), and the ratio moves from run to run with the machine's load (the per-round",
        "ratios: "
        + "; ".join(
            f"{c.kind} x{c.concurrency}: {', '.join(f'{r:.2f}' for r in c.ratios)}"
            for c in results["concurrency"]
        )
        + "). The async side runs",
        "all its Python on one event-loop thread; the sync side's threads overlap their waits.",
        "Against DynamoDB itself, where a call waits on the network, the async store's",
        "advantage would be holding no thread per request in flight: section 8 measures both",
        "at a modelled 5 ms. Choose the adapter by framework, not for throughput.",
        "",
    ]
    if "concurrency" in images:
        lines += [f"![sync vs async]({images['concurrency']})", ""]
    g_items = results["sizes"]["gc"]["items"]
    lines += [
        "## 5. GC throughput",
        "",
        f"{g_items} items (0.5 KB of data each) that expired two hours before (beyond GC's",
        "one-hour margin) written before each run (not timed); `store.gc(segments=k)` against a",
        "sequential Scan + BatchWriteItem delete (25 keys a call) on the same table, dynalite",
        "direct (no modelled round trip: see the GC section below the generated ones for 5 ms).",
        "Rounds rotate the order of the variants; ratios are to the baseline of the same round.",
        "",
        "| variant | items/s | vs baseline |",
        "|---|---|---|",
    ]
    for g in results["gc"]:
        lines.append(f"| {g.variant} | {g.items_per_s:.0f} | {g.ratio:.2f}x |")
    lines += [
        "",
        "GC deletes items that expired longer ago than its margin (an hour) in BatchWriteItems,",
        "as the baseline does, and the more recent ones by a conditional DeleteItem each (see",
        "docs/concurrency.md); segments run in parallel. Against a local engine both are bound",
        "by the engine's CPU, so segments add little here; with a network round trip between",
        "client and engine they overlap the waits.",
        "",
    ]
    if "gc" in images:
        lines += [f"![GC throughput]({images['gc']})", ""]
    p = results["profile"]
    shares = ""
    if p.call_share is not None:
        shares = (
            f" pyinstrument over {p.requests} read-only requests through the WSGI adapter "
            f"({p.wall_ms:.2f} ms each): {100 * p.call_share:.0f}% of the time is inside "
            f"the DynamoDB call (the default lean transport's: signing, the HTTP round trip "
            f"to dynalite, parsing), {100 * (p.library_share or 0):.0f}% in this library's "
            f"other code, the adapter and the app."
        )
    lines += [
        "## 6. Profile of the read path",
        "",
        "`bench/profile_read.py`." + shares,
        "",
        "Within the library's share, per read-only request: zlib and JSON decoding of the data",
        "(the largest part, and needed), reading the item's attributes, the end-of-request",
        "decision, and two `Session` objects (the deferred one and the loaded one). One thing",
        "cost more than it should: the deferred session took the loaded one's contents with",
        "`dict.update(self, loaded)`. `loaded` is a `Session`, whose `keys()` and `__getitem__`",
        "are overridden (to track access), so CPython's fast dict merge did not apply and every",
        "key went through two Python-level calls. `session.py` now merges `dict.items(loaded)`,",
        "dict's own view (one line; behaviour unchanged; the suite passes).",
        "",
        "Before and after, interleaved in rounds in this run, for a session of 20 keys: the",
        "changed step alone (a deferred session taking in the loaded one), and a whole",
        "read-only request's CPU time (library, adapter and app) with the DynamoDB client",
        "replaced by a stub that returns the recorded GetItem answer:",
        "",
        "| | before (per-key merge) | after (`dict.items`) |",
        "|---|---|---|",
        f"| the load's merge | {p.merge_us['before']:.1f} us | {p.merge_us['after']:.1f} us |",
        f"| whole request, stubbed client | {p.cpu_us['before']:.0f} us "
        f"| {p.cpu_us['after']:.0f} us |",
        "",
        "The whole-request figures move by more than the gain from round to round on this",
        "shared machine; the step alone is the reliable measure. The gain grows with the",
        "number of keys a session holds. It applies to the adapters that load on first use",
        "(WSGI and Flask: every request that reads its session); Starlette and Django load",
        "eagerly through `store.load()` and never took that path.",
        "",
        "Nothing else in the library stood out: no client or configuration is built per",
        "request (one client and transport per store), hashing the id costs under a",
        "microsecond, and a read-only request decodes its data once. The rest of a request is",
        "the DynamoDB call (the lean transport's signing, HTTP exchange and parsing: section",
        "10) and the round trip, which the overhead ratios above put in proportion. Section 7",
        "says what else was cut.",
        "",
    ]
    lines += peers.report_lines(results["peers"], results["sizes"]["peers"])
    lines += inflight.report_lines(results["inflight"], results["sizes"]["inflight"])
    lines += [
        *_wire_section(results["wire"]),
        *_transport_section(results),
        *kept_sections(out),
        "## Caveats",
        "",
        "- dynalite is not DynamoDB: its latency is a local process's, so the time ratios of",
        "  sections 3 to 6 say how much CPU the library adds, not what a request costs against",
        "  AWS (where the network dominates and the ratios move towards 1). Sections 7 and 8",
        "  add a modelled round trip (`bench/latency.py`): a fixed wait per call, with no",
        "  jitter, no packet loss and no TLS (DynamoDB's HTTPS handshake is paid once per",
        "  pooled connection). The proxy is a Python process: its sleeps overshoot by up to a",
        "  millisecond or two on a loaded machine. Call counts and capacity units do not",
        "  depend on the engine.",
        "- Capacity units exclude the sparse user index (`user_id-index`): sessions without a",
        "  user id, as here, are not in it; a session with one also writes the index.",
        "- Smoke mode (`--smoke`, used by the test suite) runs the same code with tiny sizes;",
        "  its numbers mean nothing.",
        "",
    ]
    out.write_text("\n".join(lines))


def _wire_section(rows: list[Any]) -> list[str]:
    shapes = " and ".join(dict.fromkeys(f"{w.threads} x {w.requests}" for w in rows))
    lines = [
        "## 9. One session, many requests at once, counted at the wire",
        "",
        f"`bench/concurrency.py` (`measure_wire`). Clients x requests ({shapes}): that many",
        "clients at once on one session, each sending its requests one after another, each",
        "request on a new connection and incrementing the client's own key (`/inc?KEY`: the",
        "view reads the key and adds one). Through each adapter in a real server on 127.0.0.1:",
        "WSGI, Flask and Django in a threaded `wsgiref` server (a thread per connection),",
        "Starlette in uvicorn (one event loop). The apps, servers and clients are those of",
        "`tests/concurrency/counters.py`. The store reaches dynalite through the TCP proxy of",
        "the tests (`tests/faults/proxy.py`), which counts every call by its `X-Amz-Target`.",
        "Timeouts are 30 s, so botocore never sends a slow call again: every call counted is",
        "one the library made. *kept*: the increments found in the session afterwards.",
        "",
        "| adapter | clients x requests | kept | GetItem / request | UpdateItem / request "
        "| other calls | 503 | requests/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for w in rows:
        lines.append(
            f"| {w.adapter} | {w.threads} x {w.requests} | {w.kept} of {w.total} | "
            f"{w.get_items:.2f} | {w.update_items:.2f} | {w.other_calls} | {w.unavailable} | "
            f"{w.rps:.0f} |"
        )
    exact = all(
        w.kept == w.total and w.get_items == w.update_items == 1 and not w.other_calls for w in rows
    )
    lines += [
        "",
        f"Every increment kept, exactly one GetItem and one UpdateItem per request: "
        f"{'yes' if exact else 'NO'}. A save is one UpdateItem of only the keys the request",
        "changed, conditional on the session's validity and not on the version read, so",
        "requests changing different keys never conflict: no retry, no re-read, no 503.",
        "Not counted above: the session's creation (one PutItem) and the read that checks it",
        "afterwards (one GetItem). Requests per second are those of the whole loop (client",
        "threads, server, proxy and dynalite on the same machine), not the library's",
        "throughput. Starlette's is the lowest, as the async store's is in section 4 with",
        "requests in flight: all its requests run on one event-loop thread (here in the same",
        "process as the client threads and the proxy), where the WSGI servers have a thread per",
        "request. The same runs are tests in the suite",
        "(`tests/concurrency/test_no_lost_updates.py`); docs/concurrency.md has the policy.",
        "",
    ]
    return lines

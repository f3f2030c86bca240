"""``dynamodb-sessions demo`` in a real headless browser: Debian's Chromium, driven by Playwright.

The demo runs as the README says (a subprocess on the embedded local engine, 127.0.0.1, port 0);
each test clicks through one flow in fresh browser contexts (each its own cookie jar, like two
browsers) and checks what the page shows. No browser is downloaded: Playwright drives the
``chromium`` binary of the machine. Without it these tests fail, saying how to install it
(``scripts/test`` does).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.children import start_command

CHROMIUM_ENV = "DYNAMODB_SESSIONS_CHROMIUM"
LAUNCH_ARGS = [
    "--no-sandbox",  # root, in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

# One worker runs the whole module under pytest-xdist: the demo and the browser are started once.
pytestmark = pytest.mark.xdist_group("browser")


def chromium_path() -> str:
    """The Chromium binary to drive: $DYNAMODB_SESSIONS_CHROMIUM, else ``chromium`` on PATH."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.fail(
            f"Chromium not found at {path}: install Debian's package (apt-get install -y "
            f"chromium; scripts/test does this) or set {CHROMIUM_ENV} to a Chromium binary",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """The demo, started as a user would, on the embedded engine; stopped with Ctrl-C."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    process = start_command("demo", "--port", "0", env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail("the demo printed no URL within 60 s")
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"no URL in {line!r}"
        yield match.group(0)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (the machine's binary) under Playwright."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install --group test", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path, headless=True, args=LAUNCH_ARGS, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any, demo_url: str) -> Iterator[Any]:
    """Make pages, each in its own context (its own cookies: another browser)."""
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto(demo_url)
        return page

    yield make
    for context in contexts:
        context.close()


def visits(page: Any) -> int:
    return int(page.inner_text("#visits"))


def attribute(page: Any, name: str) -> str:
    """The value cell of ``name`` in the page's table of the stored item."""
    # An attribute selector: a key's attribute name ("s:colour") is no valid CSS id selector.
    return str(page.inner_text(f"[id='attr-{name}'] td code")).strip()


def test_the_counter_counts_and_the_page_shows_the_stored_item(new_page, demo_url):
    page = new_page()
    assert visits(page) == 1
    page.reload()
    assert visits(page) == 2
    page.fill("input[name=key]", "colour")
    page.fill("input[name=value]", "teal")
    page.click("#set")
    assert visits(page) == 3
    assert '"teal"' in page.inner_text("#contents")

    assert re.fullmatch(r"[0-9a-f]{64}", attribute(page, "id"))
    assert re.fullmatch(r"\d+ bytes", attribute(page, "s:colour"))
    assert int(attribute(page, "version")) >= 3
    expires, accessed = attribute(page, "expires"), attribute(page, "accessed")
    assert int(expires.split()[0]) - int(accessed.split()[0]) == 1800  # idle timeout: 30 min
    assert page.inner_text("#timeout") == "1800 s"

    page.click("#clear")  # the item is deleted; the next page view starts a new session
    assert visits(page) == 1
    assert "teal" not in page.inner_text("#contents")


def test_log_in_rotates_the_key_and_log_out_flushes(new_page):
    page = new_page()
    page.reload()
    before = attribute(page, "id")
    page.fill("#name", "ada")
    page.click("#login")
    assert page.inner_text("#user") == "ada"
    after = attribute(page, "id")
    assert after != before  # a new id, so a new hash
    assert before[:16] in page.inner_text("#notice")
    assert attribute(page, "user_id") == "ada"
    assert visits(page) == 3  # the data came along

    page.click("#logout")
    assert "Logged out" in page.inner_text("#notice")
    assert page.is_visible("#name")  # the log-in form again
    assert visits(page) == 1
    assert attribute(page, "id") not in (before, after)


def test_a_users_sessions_are_listed_and_logged_out_everywhere(new_page):
    first, second = new_page(), new_page()
    for page in (first, second):
        page.fill("#name", "grace")
        page.click("#login")
    first.reload()
    rows = first.locator("#sessions tr").all_inner_texts()[1:]  # less the header row
    assert len(rows) == 2, rows
    assert sum("this browser" in row for row in rows) == 1
    assert attribute(first, "id")[:16] in next(r for r in rows if "this browser" in r)

    first.click("#logout-everywhere")
    assert "2 session(s) deleted" in first.inner_text("#notice")
    assert first.is_visible("#name")

    second.reload()  # its next request: the cookie names a deleted session
    assert "no longer valid" in second.inner_text("#notice")
    assert second.is_visible("#name")
    assert visits(second) == 1


def test_a_burst_of_concurrent_requests_loses_no_update(new_page):
    page = new_page()
    page.click("#burst")
    page.wait_for_function("document.getElementById('burst-result').dataset.landed !== undefined")
    result = page.inner_text("#burst-result")
    assert result.startswith("20 of 20 concurrent updates landed"), result
    first, last = map(int, re.search(r"version (\d+) \D+ (\d+)", result).groups())
    assert last - first == 20  # one write each, none overwritten
    page.reload()
    keys = [row.split("\t")[0] for row in page.locator("#contents tr").all_inner_texts()]
    assert sorted(k for k in keys if k.startswith("parallel-")) == [
        f"parallel-{i:02d}" for i in range(1, 21)
    ]


def test_a_session_expires_after_its_idle_timeout(new_page):
    page = new_page()
    page.fill("input[name=key]", "cart")
    page.fill("input[name=value]", "3 books")
    page.click("#set")
    page.click("#expire-soon")
    assert page.inner_text("#timeout") == "5 s"
    assert page.inner_text("#countdown").startswith("expires in")
    assert visits(page) == 3
    # Wait for the page's own countdown: the browser, not the test, tells when it is over.
    page.wait_for_function(
        "document.getElementById('countdown').textContent.startsWith('expired')", timeout=10_000
    )
    page.wait_for_timeout(1_100)  # the server counts whole seconds
    page.reload()
    assert "no longer valid" in page.inner_text("#notice")
    assert visits(page) == 1
    assert "3 books" not in page.inner_text("#contents")
    assert page.inner_text("#timeout") == "1800 s"

"""`chatops demo` in a browser, as a new user tries it: the page that looks like Slack, end to end.

`chatops demo` runs as its own process (as the README says to start it, on any free port and a
faster clock); Debian's chromium, headless through Playwright, opens the address it prints. The
developer runs a workflow and watches its thread fill in, opens a step's archived log, starts the
two-minute backfill and stops it with its Stop button; then asks for a rollback of production in
#prod-ops, and the SRE lead approves it on the card in #approvals and watches it finish. Ctrl-C
ends the demo and leaves no process.

Screenshots go to the test's temporary directory; with `CHATOPS_SCREENSHOT_DIR=docs/images` the
README's pictures are written there from the same run.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from bot.sandbox.world import DEMO_CHANNELS, DEMO_USERS

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 60_000
USERS = {name: user_id for user_id, name, _ in DEMO_USERS}
CHANNELS = {name: channel_id for channel_id, name in DEMO_CHANNELS}


class Demo:
    """`chatops demo` as a child process: its page's address, and Ctrl-C."""

    def __init__(self, temp_dir: Path) -> None:
        self.temp_dir = temp_dir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--port", "0", "--time-scale", "0.25"],
            env={**os.environ, "TMPDIR": str(temp_dir)},  # where its temporary state goes
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.said: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.page_url = self._wait_for_ready()

    def _read(self) -> None:
        for line in self.process.stderr or ():
            self._lines.put(line)

    def _wait_for_ready(self, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                line = self._lines.get(timeout=1.0)
            except queue.Empty:
                continue
            self.said.append(line)
            if line.startswith("ready: "):
                return line.split(" ", 1)[1].strip()
        raise AssertionError("chatops demo never said `ready: URL`:\n" + "".join(self.said))

    def interrupt(self) -> int:
        """Ctrl-C; the exit code (the process group is killed if it is still there after 30 s)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError("chatops demo was still running 30 s after Ctrl-C") from None
        finally:
            self._reader.join(timeout=10)
            while not self._lines.empty():
                self.said.append(self._lines.get())

    def left_behind(self) -> list[str]:
        """Processes of the demo's session still alive (its acker, for one)."""
        found = subprocess.run(
            ["pgrep", "-s", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return found.stdout.split()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    state = tmp_path / "tmp"
    state.mkdir()
    running = Demo(state)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.interrupt()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def _type(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")


def _open_channel(page: Page, name: str) -> None:
    page.locator(f"[data-open-channel='{CHANNELS[name]}']").click()
    expect(page.locator("#channel-title")).to_contain_text(name)


def _be(page: Page, name: str) -> None:
    page.select_option("#me-picker", USERS[name])


def _run_message(page: Page, template: str) -> Locator:
    """The channel message of the newest run of `template`."""
    return page.locator("#messages .message:not(.message-ephemeral)", has_text=f"{template} · ").last


def _screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 20_000  # a drawn page, not a blank one
    if folder := os.environ.get("CHATOPS_SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))
    return path


def test_a_new_user_runs_stops_reads_a_log_and_gets_a_rollback_approved_in_the_page(
    demo: Demo, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(demo.page_url.replace("?as=U0ALICE", f"?as={USERS['bob']}"))
    expect(page.locator("#live")).to_have_class("live live-on", timeout=WAIT_MS)
    expect(page.locator("#me-picker")).to_have_value(USERS["bob"])
    _open_channel(page, "deploys")

    # The developer runs a workflow: its message is kept up to date and its thread fills in.
    _type(page, "/ops run hello -p greeting=hi --cluster staging")
    expect(page.locator("#messages .message-ephemeral", has_text="Submitted")).to_be_visible(timeout=WAIT_MS)
    hello = _run_message(page, "hello")
    expect(hello).to_contain_text("hello-", timeout=WAIT_MS)
    name = next(word for word in hello.inner_text().split() if word.startswith("hello-"))
    expect(hello).to_contain_text("Succeeded", timeout=WAIT_MS)
    expect(hello.locator(".thread-count")).to_contain_text("replies", timeout=WAIT_MS)
    hello.locator(".thread-link").click()
    thread = page.locator("#thread-pane")
    expect(thread.locator(".message", has_text="step")).not_to_have_count(0, timeout=WAIT_MS)
    expect(thread.locator(".message", has_text="hello · ").last).to_contain_text("succeeded", timeout=WAIT_MS)
    assert "<@U0" not in thread.inner_text() and "<!date" not in thread.inner_text()

    # A step's archived log opens as text in a new tab, straight from the S3 stand-in.
    hello.locator(".btn", has_text="Logs").click()
    links = page.locator("#messages .message-ephemeral a", has_text="main.log")
    expect(links.first).to_be_visible(timeout=WAIT_MS)
    with context.expect_page() as opened:
        links.first.click()
    log = opened.value
    log.wait_for_load_state()
    assert f"hi from {name}" in log.locator("body").inner_text()
    log.close()

    # The two-minute backfill can be watched, then stopped with its button.
    _type(page, "/ops run orders-backfill --cluster staging")
    backfill = _run_message(page, "orders-backfill")
    expect(backfill).to_contain_text("Running", timeout=WAIT_MS)
    expect(backfill.locator(".thread-count")).to_be_visible(timeout=WAIT_MS)
    backfill.locator(".thread-link").click()
    expect(thread.locator(".message", has_text="step").nth(4)).to_be_visible(timeout=WAIT_MS)
    expect(backfill.locator(".btn", has_text="Stop")).to_be_visible()
    expect(page.locator("#me-avatar")).to_have_text("B")
    _screenshot(page, tmp_path, "demo-run.png")
    backfill.locator(".btn", has_text="Stop").click()
    expect(backfill).to_contain_text("Stopped", timeout=WAIT_MS)
    expect(backfill.locator(".btn", has_text="Stop")).to_have_count(0, timeout=WAIT_MS)

    # Production takes commands only in #prod-ops; the rollback waits for someone else's approval.
    _open_channel(page, "prod-ops")
    _type(page, '/ops rollback shop-production --reason "checkout errors since v1.5.0"')
    expect(page.locator("#messages .message-ephemeral", has_text="requested")).to_be_visible(timeout=WAIT_MS)
    _be(page, "carol")
    _open_channel(page, "approvals")
    requested = page.locator("#messages .message", has_text="Rollback requested: shop-production").last
    expect(requested.locator(".btn-primary", has_text="Approve")).to_be_visible(timeout=WAIT_MS)
    card = page.locator(
        f"#messages .message[data-ts='{requested.get_attribute('data-ts')}']"
    )  # stays when edited
    expect(card).to_contain_text("@bob")
    expect(card).to_contain_text("checkout errors since v1.5.0")
    _screenshot(page, tmp_path, "demo-approval.png")
    card.locator(".btn-primary", has_text="Approve").click()
    expect(card).to_contain_text("Rollback approved", timeout=WAIT_MS)
    expect(card).to_contain_text("@carol")
    rollback = _run_message(page, "rollback")
    expect(rollback).to_contain_text("Succeeded", timeout=WAIT_MS)
    rollback.locator(".thread-link").click()
    expect(thread.locator(".message", has_text="rollback · shop-production: succeeded")).to_be_visible(
        timeout=WAIT_MS
    )
    context.close()

    assert demo.interrupt() == 0
    assert "Traceback" not in "".join(demo.said)
    assert demo.left_behind() == []
    assert list(demo.temp_dir.iterdir()) == []  # the temporary state is gone

"""How long from typing `chatops demo` to a page you can type in? Prints seconds per phase.

Each trial starts `chatops demo --port 0` as its own process (as a new user would, but on any free
port), waits for the line `ready: URL`, then opens that page in headless chromium (Debian's
`/usr/bin/chromium`, through Playwright) and waits until the page is usable: live updates
connected, the channel's messages drawn and the message box enabled. Then Ctrl-C, and the time the
demo takes to exit. Ends with one JSON line of figures.

    .venv/bin/python benchmarks/demo_first_load.py [--trials 3] [--quick]

Figures per trial: `ready_s` (command to `ready:`), `usable_s` (command to a usable page) and
`stop_s` (Ctrl-C to exit); medians over the trials. `--quick`: one trial.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
READY_TIMEOUT = 120.0


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _wait_ready(process: subprocess.Popen[str]) -> str:
    """The page's address from the line `ready: URL` (a thread reads, so no line waits in a buffer)."""
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr or ()], daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    said: list[str] = []
    while time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        said.append(line)
        if line.startswith("ready: "):
            return line.split(" ", 1)[1].strip()
    raise SystemExit("chatops demo never said `ready: URL`:\n" + "".join(said[-20:]))


def trial() -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "chatops"), "demo", "--port", "0"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        page_url = _wait_ready(process)
        ready = time.monotonic() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            try:
                page = browser.new_page()
                page.goto(page_url)
                expect(page.locator("#live")).to_have_class("live live-on", timeout=30_000)
                expect(page.locator("#channel-title")).not_to_be_empty(timeout=30_000)
                expect(page.locator("#composer-input")).to_be_enabled(timeout=30_000)
                usable = time.monotonic() - started
            finally:
                browser.close()
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        stopped = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return {"ready_s": round(ready, 2), "usable_s": round(usable, 2), "stop_s": round(stopped, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3, help="how many times to start the demo (default 3)")
    parser.add_argument("--quick", action="store_true", help="one trial")
    args = parser.parse_args()
    trials = 1 if args.quick else max(1, args.trials)
    results = []
    for number in range(trials):
        result = trial()
        results.append(result)
        print(f"trial {number + 1}: " + ", ".join(f"{k} {v}" for k, v in result.items()), file=sys.stderr)
    medians = {key: round(statistics.median(r[key] for r in results), 2) for key in results[0]}
    print(
        json.dumps(
            {"benchmark": "demo_first_load", "cores": _cores(), "medians": medians, "results": results}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

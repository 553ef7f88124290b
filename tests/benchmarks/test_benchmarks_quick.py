"""The tracking benchmark still runs end to end: `benchmarks/tracking.py --quick` ends with one JSON
line of figures (their values are printed for people; no test asserts on speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "runs",
    "limits",
    "finals_delivered",
    "lag_p50",
    "lag_p95",
    "lag_max",
    "last_final_s",
    "slack_429",
    "slack_calls_per_run",
    "kube_calls_per_run",
    "cpu_s",
}


def test_the_quick_tracking_benchmark_ends_with_a_json_line_of_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tracking.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "tracking"
    assert {result["who"] for result in figures["results"]} == {"bot", "naive"}
    for result in figures["results"]:
        assert result.keys() >= KEYS, sorted(KEYS - result.keys())
    bot = next(result for result in figures["results"] if result["who"] == "bot")
    assert {"bound_s", "last_final_message_s", "peak_rss_mb"} <= bot.keys()

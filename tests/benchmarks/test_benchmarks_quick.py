"""The benchmarks still run end to end: each `--quick` run ends with one JSON line of figures (their
values are printed for people; no test asserts on speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _quick(script: str, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"cores", "results"} <= figures.keys() or figures["benchmark"] == "tracking"
    return figures


def test_the_quick_tracking_benchmark_ends_with_a_json_line_of_figures() -> None:
    figures = _quick("tracking.py")
    assert figures["benchmark"] == "tracking"
    assert {result["who"] for result in figures["results"]} == {"bot", "naive"}
    for result in figures["results"]:
        assert result.keys() >= KEYS, sorted(KEYS - result.keys())
    bot = next(result for result in figures["results"] if result["who"] == "bot")
    assert {"bound_s", "last_final_message_s", "peak_rss_mb"} <= bot.keys()


def test_the_quick_apps_page_benchmark_measures_the_answer_against_slack_limits() -> None:
    figures = _quick("apps_page.py")
    assert figures["benchmark"] == "apps_page"
    (row,) = figures["results"]
    keys = {"apps", "answer_s_first", "answer_s_median", "pages", "blocks", "longest_section_chars"}
    assert keys | {"block_text_chars", "within_limits"} <= row.keys()


def test_the_quick_scale_out_benchmark_answers_every_command_with_one_and_two_replicas() -> None:
    figures = _quick("scale_out.py", timeout=240)
    assert figures["benchmark"] == "scale_out"
    assert [row["replicas"] for row in figures["results"]] == [1, 2]
    for row in figures["results"]:
        assert row.keys() >= {"commands_per_s", "answer_s", "ack_ms", "per_replica_commands"}
        assert row["answered"] == row["sent"] > 0  # every command answered, none "busy"
        assert row["busy"] == 0
        assert len(row["per_replica_commands"]) == row["replicas"]


def test_the_quick_ack_latency_benchmark_measures_the_bot_beside_both_floors() -> None:
    figures = _quick("ack_latency.py", timeout=240)
    assert figures["benchmark"] == "ack_latency"
    rows = {(row["who"], row["rate"]) for row in figures["results"]}
    assert rows == {(who, rate) for who in ("bot", "bolt_pbr", "bolt_default") for rate in (50, 500)}
    bot = next(row for row in figures["results"] if row["who"] == "bot" and row["rate"] == 50)
    assert bot["acked"] == bot["sent"] > 0  # every command acked
    assert {"answer_s", "queue_max", "answers"} <= bot.keys()


def test_the_quick_reconnect_benchmark_times_the_next_ack_after_each_kind_of_drop() -> None:
    figures = _quick("reconnect.py", timeout=240)
    assert figures["benchmark"] == "reconnect"
    bot = [row for row in figures["results"] if row["who"] == "bot"]
    assert {row["mode"] for row in bot} == {"refresh", "close", "abrupt"}


def test_the_quick_demo_first_load_benchmark_times_the_page_from_the_command() -> None:
    figures = _quick("demo_first_load.py", timeout=240)
    assert figures["benchmark"] == "demo_first_load"
    (row,) = figures["results"]
    assert 0 < row["ready_s"] <= row["usable_s"] and row["stop_s"] > 0


def test_the_quick_subscription_storm_gives_every_app_one_parent_and_one_final() -> None:
    figures = _quick("subscription_storm.py", timeout=240)
    assert figures["benchmark"] == "subscription_storm"
    (row,) = figures["results"]
    apps = row["apps"]
    assert apps > 0 and row["ended"] == apps  # every sync started from outside the bot ran
    assert row["finals_delivered"] == apps  # every app's final state reached its channel
    assert row["apps_without_final"] == 0
    assert row["apps_with_one_parent"] == row["apps_with_one_summary"] == apps
    assert row["apps_with_duplicate_parent"] == row["apps_with_duplicate_summary"] == 0
    assert row["apps_in_wrong_channel"] == row["unattributed_parents"] == 0
    assert row["calls_429_twice"] == 0  # no call met Slack's 429 twice
    assert {"final_p95_s", "last_final_s", "bound_final_s", "slack_429", "peak_rss_mb"} <= row.keys()

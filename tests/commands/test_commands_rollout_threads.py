"""A Rollout command followed in a Slack thread: parent, a reply per step, one final summary.

Over real sockets: the real bot (Socket Mode, the Web API, the kubernetes client) against the
sandbox's Rollouts controller on `dev`. Each test makes its own canary in namespace `web`
(revision 1, then a new image the controller takes to a `pause: {}` step), types a command,
and reads the channel and the run's thread as people would. The last test stops the bot while
a promote is under way and starts a new one on the same database: the new leader continues the
thread with nothing posted twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import GROUP, VERSION, Tier
from e2e_world import BASE_POLICY, DEV, OPS_CHANNEL, running_bot
from e2e_world import message_text as _text
from kubernetes import client
from rollouts_world import NS, paused_canary
from rollouts_world import rollout as _rollout
from rollouts_world import until as _until

from bot import records
from bot.argo.rollout_state import RUN_ID_ANNOTATION
from bot.sandbox.argo.samples import CHECKOUT_STEPS
from bot.sandbox.world import SandboxWorld
from bot.store.repos import RunRepo

POLICY = BASE_POLICY + (
    "p, role:developer, rollouts, get, dev/*, allow\n"
    "p, role:developer, rollouts, promote, dev/*, allow\n"
    "p, role:developer, rollouts, abort, dev/*, allow\n"
)
#: A canary whose second wait is long enough to stop and start the bot during it (120 s scripted,
#: 6 s at the tests' time scale); a hand-made pause holds it there meanwhile.
SLOW_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "120s"}},
    {"setWeight": 80},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
]


def _tier(world: Any, sandbox: SandboxWorld) -> Tier:
    return Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


@pytest.fixture
def rollout_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    with running_bot(tmp_path, sandbox, policy=POLICY) as world:
        yield _tier(world, sandbox)


def _api(tier: Tier) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))


def _run(tier: Tier, name: str) -> records.Run:
    runs = [run for run in tier.runs.recent(kind=records.RUN_ROLLOUT, limit=50) if run.template == name]
    assert len(runs) == 1, runs
    return runs[0]


def _parent_ts(tier: Tier, run_id: str) -> str:
    def posted() -> str | None:
        run = tier.runs.get(run_id)
        return run.parent_ts if run is not None else None

    ts: str = tier.wait(posted, message="the run's parent message in the channel", timeout=30)
    return ts


def _thread(tier: Tier, ts: str) -> list[str]:
    """The replies under the parent, oldest first."""
    return [_text(message) for message in tier.world.driver.replies(OPS_CHANNEL, ts)[1:]]


def _final_thread(tier: Tier, run_id: str, summary: str) -> list[str]:
    """The thread once the run's summary (containing `summary`) is in Slack."""
    tier.wait(
        lambda: (run := tier.runs.get(run_id)) is not None and run.final_posted,
        message="the run's final state",
        timeout=60,
    )
    ts = _parent_ts(tier, run_id)
    replies: list[str] = tier.wait(
        lambda: (lambda thread: thread if any(summary in text for text in thread) else None)(
            _thread(tier, ts)
        ),
        message=f"a summary saying {summary!r} in the thread",
        timeout=30,
    )
    return replies


def _parents(tier: Tier, run_id: str) -> list[dict[str, Any]]:
    """Top-level messages of the channel that are this run's parent (its footer names the run)."""
    return [m for m in tier.world.driver.messages(OPS_CHANNEL) if f"run `{run_id}`" in _text(m)]


def _index(replies: list[str], part: str) -> int:
    found = [i for i, text in enumerate(replies) if part in text]
    assert len(found) == 1, (part, replies)
    return found[0]


def test_promote_follows_the_canary_step_by_step_to_one_final_summary(rollout_tier: Tier) -> None:
    tier = rollout_tier
    name = _paused_canary(tier)

    reply = tier.do(DEV, f"promote {name}")

    assert "the pause at step 2/5 ended" in reply.text and "follows in the thread" in reply.text, reply.text
    run = _run(tier, name)
    assert _rollout(tier, name)["metadata"]["annotations"][RUN_ID_ANNOTATION] == run.id
    replies = _final_thread(tier, run.id, "is fully promoted")
    order = [
        _index(replies, "step 3/5: setWeight 50"),
        _index(replies, "step 4/5: pause 30s"),
        _index(replies, "step 5/5: analysis success-rate"),
        _index(replies, "analysis `success-rate` Successful"),
        _index(replies, "is fully promoted: Healthy at revision 2, canary weight 100%"),
    ]
    assert order == sorted(order) and order[-1] == len(replies) - 1, replies
    assert len(replies) == len(set(replies)), replies
    assert f"asked by <@{DEV}>" in replies[-1]
    parents = _parents(tier, run.id)
    assert len(parents) == 1
    parent = _text(parents[0])
    assert f"promote · {name}" in parent and "dev / web" in parent and f"<@{DEV}>" in parent
    tier.wait(lambda: "100%" in _text(_parents(tier, run.id)[0]), message="the parent at weight 100%")
    finished = tier.runs.get(run.id)
    assert finished is not None and finished.phase == "Succeeded" and finished.progress == "5/5"


def test_abort_ends_its_thread_rolled_back_to_stable(rollout_tier: Tier) -> None:
    tier = rollout_tier
    name = _paused_canary(tier)

    reply = tier.do(DEV, f"abort {name}")

    assert "canary weight 0" in reply.text and "follows in the thread" in reply.text, reply.text
    run = _run(tier, name)
    replies = _final_thread(tier, run.id, "rolled back to stable")
    assert len(replies) == 1, replies  # nothing moved on: the summary is the whole thread
    assert f"`{name}` rolled back to stable: canary weight 0%, phase Degraded" in replies[0]
    parent = tier.wait(
        lambda: (lambda text: text if "Degraded" in text else None)(_text(_parents(tier, run.id)[0])),
        message="the parent showing the rollout Degraded",
    )
    assert "0%" in parent and "RolloutAborted" in parent
    finished = tier.runs.get(run.id)
    assert finished is not None and finished.phase == "Succeeded"


def test_a_promote_that_ends_at_the_next_pause_says_its_work_is_done(rollout_tier: Tier) -> None:
    tier = rollout_tier
    steps: list[dict[str, Any]] = [
        {"setWeight": 20},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {}},
        {"setWeight": 90},
    ]
    name = _paused_canary(tier, steps)

    tier.do(DEV, f"promote {name}")

    run = _run(tier, name)
    replies = _final_thread(tier, run.id, "is done")
    assert _index(replies, "step 3/5: setWeight 60") < _index(replies, "step 4/5: paused until promoted")
    assert f"`promote` is done: `{name}` is paused at step 4/5 (canary weight 60%)" in replies[-1]
    assert _rollout(tier, name)["status"]["phase"] == "Paused"


def test_a_new_leader_continues_the_thread_with_nothing_posted_twice(
    tmp_path: Path, sandbox: SandboxWorld
) -> None:
    with running_bot(tmp_path, sandbox, policy=POLICY) as first_world:
        first = _tier(first_world, sandbox)
        name = _paused_canary(first, SLOW_STEPS)
        first.do(DEV, f"promote {name}")
        run = _run(first, name)
        _until(first, name, "at its 120 s pause", lambda s: s.get("currentStepIndex") == 3)
        # someone holds it there by hand (`kubectl argo rollouts pause`) while the bot restarts
        _api(first).patch_namespaced_custom_object(
            GROUP, VERSION, NS, "rollouts", name, {"spec": {"paused": True}}
        )
        ts = _parent_ts(first, run.id)
        first.wait(
            lambda: any("paused by hand" in text for text in _thread(first, ts)),
            message="the hand-made pause in the thread",
            timeout=30,
        )
        before = _thread(first, ts)
        assert any("step 4/6: pause 120s" in text for text in before), before
    stopped = first.runs.get(run.id)
    assert stopped is not None and not stopped.final_posted

    with running_bot(tmp_path, sandbox, policy=POLICY) as second_world:
        second = _tier(second_world, sandbox)
        # the new leader read the Rollout (held at the same step) into the run, from scratch
        second.wait(
            lambda: (again := second.runs.get(run.id)) is not None and again.updated_at > stopped.updated_at,
            message="the new leader to pick the run up",
            timeout=30,
        )
        _api(second).patch_namespaced_custom_object(
            GROUP, VERSION, NS, "rollouts", name, {"spec": {"paused": False}}
        )
        replies = _final_thread(second, run.id, "is fully promoted")

        assert replies[: len(before)] == before  # the thread goes on where it was
        after = replies[len(before) :]
        assert any("step 5/6: setWeight 80" in text for text in after), replies
        assert any("step 6/6: analysis success-rate" in text for text in after), replies
        assert "is fully promoted" in replies[-1]
        counts = Counter(replies)
        assert [text for text, seen in counts.items() if seen > 1] == [], replies
        assert sum("is fully promoted" in text for text in replies) == 1
        assert sum("step 4/6: pause 120s" in text for text in replies) == 1
        assert sum("paused by hand" in text for text in replies) == 1
        assert len(_parents(second, run.id)) == 1


def _paused_canary(tier: Tier, steps: list[dict[str, Any]] = CHECKOUT_STEPS) -> str:
    return paused_canary(tier, "canary", steps)

"""Argo Rollouts runs for the follower: a Rollout command (promote, abort, retry-rollout, undo) in a thread.

`RolloutPart` is the `Part` of `bot.tracking.follower` for runs of kind `rollout`. The leader's
watch of `rollouts.argoproj.io` hands each Rollout to `Follower.on_rollout`, which finds the run
by the Rollout's annotation `argo-chatops/run-id` (written with the command); this part reads
the Rollout for that run (`rollout_state.followed`, with what the run asked: its action and the
step, revision and abort it started from), says what is worth a thread reply
(`rollout_state.events`) and when the command's work is done (`FollowedRollout.outcome`):
Healthy (fully promoted), paused at a later `pause: {}` step after a promote (the promote's
work is done), rolled back to stable after an abort, or taken over by another command or a
new revision. Shown by `bot.render.rollout_runs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.announcing import PRIORITY_FAILURE, PRIORITY_PROGRESS
from bot.argo import rollout_state
from bot.argo.rollout_state import FollowedRollout
from bot.records import RUN_ROLLOUT, Run
from bot.render import rollout_runs
from bot.tracking.follower import Blocks, Reply, Stored

#: What the run row keeps as its phase once its command's work is done (`runs` lists it).
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_SUPERSEDED = "Superseded"


class RolloutPart:
    """Runs of kind `rollout`: `rollout_state.followed` / `events`, shown by `render.rollout_runs`."""

    kinds = frozenset({RUN_ROLLOUT})

    def state(self, obj: Mapping[str, Any], *, run: Run) -> FollowedRollout:
        return rollout_state.followed(obj, rollout_state.asked_of(run.id, run.parameters))

    def stored(self, state: FollowedRollout, *, now: datetime) -> Stored:
        outcome = state.outcome
        if outcome is None:
            phase = state.summary.phase
        elif outcome in (rollout_state.OUTCOME_SUPERSEDED, rollout_state.OUTCOME_NEW_REVISION):
            phase = PHASE_SUPERSEDED
        else:
            phase = PHASE_SUCCEEDED if state.succeeded else PHASE_FAILED
        summary = state.summary
        return Stored(
            phase=phase,
            progress=summary.step_shown,
            message=summary.message,
            finished_at=now if outcome is not None else None,
            final=outcome is not None,
        )

    def parent(self, run: Run, state: FollowedRollout | None, *, now: datetime) -> tuple[str, Blocks]:
        text, blocks = rollout_runs.render_parent(run=run, state=state, now=now)
        return text, list(blocks)

    def replies(self, old: FollowedRollout | None, new: FollowedRollout) -> list[Reply]:
        out = []
        for event in rollout_state.events(old, new):
            failed = event.analysis is not None and event.analysis.status != rollout_state.ANALYSIS_SUCCESSFUL
            out.append(
                Reply(
                    identity=event.identity,
                    text=rollout_runs.render_event(event, new),
                    priority=PRIORITY_FAILURE if failed else PRIORITY_PROGRESS,
                )
            )
        return out

    def summary(self, run: Run, state: FollowedRollout) -> tuple[str, Blocks]:
        text, blocks = rollout_runs.render_summary(run=run, state=state)
        return text, list(blocks)

"""A schedule firing is one more entry point of the pipeline, on behalf of the schedule's owner.

A `run` schedule is carried out as if its owner typed `run TEMPLATE ...` in the schedule's
channel at firing time: the owner is resolved again (their groups and e-mail as they are now),
their permission on the precise template is checked, the cluster's channel binding applies,
the run is recorded, launched and followed, and the firing is audited under their name. An
owner who lost the permission gets a refusal posted in the channel instead of a run.
"""

from __future__ import annotations

from bot.actions import pipeline, ports
from bot.actions.context import Deps
from bot.commands.grammar import Invocation
from bot.commands.workflow_verbs import RunCommand
from bot.model import Actor, Origin, Reply, Surface, Visibility
from bot.rbac import policy as rbac
from bot.schedules.jobs import ScheduleSpec, Viewer

RUN_VERB = "run"


class ScheduledRuns:
    """The schedule service's `ScheduledRunner`: each firing walks the pipeline as its owner."""

    def __init__(self, *, directory: ports.Directory) -> None:
        self._directory = directory
        self._deps: Deps | None = None

    def bind(self, deps: Deps) -> None:
        """Connect the pipeline's dependencies (they include the schedule service that calls this)."""
        self._deps = deps

    def fire(self, schedule: ScheduleSpec) -> Reply:
        deps = self._deps
        if deps is None:
            raise RuntimeError("ScheduledRuns.bind() was not called")
        owner = schedule.owner
        if owner is None:
            return Reply(
                text=f":no_entry: Schedule *{schedule.name}* has no owner, so it ran nothing: "
                "add `owner` (a Slack user id) to it in the configuration file.",
                visibility=Visibility.IN_CHANNEL,
            )
        actor: Actor = self._directory.actor(owner)
        params = tuple(schedule.parameters.items())
        words = [RUN_VERB, schedule.template or ""]
        if schedule.cluster:
            words += ["--cluster", schedule.cluster]
        words += [f"-p {key}={value}" for key, value in params]
        text = " ".join(words)
        verb = deps.registry[RUN_VERB]
        command = RunCommand(
            raw=text, template=schedule.template or "", params=params, cluster=schedule.cluster
        )
        origin = Origin(surface=Surface.SCHEDULE, channel_id=schedule.channel, user_id=owner, text=text)
        reply = pipeline.perform(
            Invocation(verb, command),
            origin=origin,
            actor=actor,
            deps=deps,
            reference=pipeline.new_reference(),
        )
        return Reply(
            text=f":calendar: Schedule *{schedule.name}* (for <@{owner}>): {reply.text}",
            visibility=Visibility.IN_CHANNEL,
        )

    def viewer(self, schedule: ScheduleSpec) -> Viewer | None:
        """What the owner may `get` as the policy stands now (for the reports they own)."""
        deps = self._deps
        if deps is None or schedule.owner is None:
            return None
        subjects = self._directory.actor(schedule.owner).subjects
        enforcer = deps.policy.current()

        def may(resource: str, obj: str) -> bool:
            return enforcer.can(subjects, resource=resource, action=rbac.ACTION_GET, obj=obj)

        return may

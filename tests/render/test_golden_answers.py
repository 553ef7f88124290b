"""Golden files for the answers people get to typed commands, and the error replies.

`help`, `whoami`, `runs`, a syntax error, a permission denial, an upstream failure and the
"written, the announcement follows" reply go through the real action pipeline (registry,
grammar, policy) over small fixed stand-ins; `templates`, `status` and `logs` are rendered from
fixed inputs. Every answer is rendered with `render_reply`, as the worker posts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import records
from bot.actions import pipeline
from bot.actions.context import Context, Deps
from bot.argo.parameters import TemplateInfo, TemplateParam
from bot.commands.registry import Command, Verb
from bot.commands.verbs import build_registry
from bot.config import ClusterSettings, KubeconfigAuth, Settings
from bot.errors import KubeError, UpstreamError
from bot.model import Actor, Origin, Reply, Surface
from bot.rbac import policy
from bot.rbac.enforcer import Enforcer
from bot.rbac.source import BUILTIN_SOURCE, builtin_text
from bot.render.texts import logs_reply, status_reply, templates_reply
from bot.tracking.progress import RunState, StepView

NOW = datetime(2024, 5, 1, 9, 15, tzinfo=UTC)
TEAM_POLICY = """
p, group:data-eng, workflows, run, prod-eu/batch/*, allow
p, group:data-eng, workflows, stop, prod-eu/batch/*, allow
g, slack:U0ALICE, role:data-engineer
p, role:data-engineer, workflows, retry, */batch/*, allow
"""
ALICE = Actor(user_id="U0ALICE", name="alice", email="alice@example.test", groups=("data-eng",))


class Audit:
    def __init__(self) -> None:
        self.events: list[records.AuditEvent] = []

    def record(self, event: records.AuditEvent) -> int:
        self.events.append(event)
        return len(self.events)

    def complete(self, event_id: int, *, event: records.AuditEvent) -> None:
        self.events[event_id - 1] = event

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[records.AuditEvent]:
        return [e for e in self.events if actor_id in (None, e.actor_id)][:limit]


class Policies:
    def __init__(self) -> None:
        merged = policy.merge(
            [
                policy.parse_policy(builtin_text(), source=BUILTIN_SOURCE),
                policy.parse_policy(TEAM_POLICY, source="team.csv"),
            ]
        )
        self.enforcer = Enforcer(merged, default_role="role:readonly")

    def current(self) -> Enforcer:
        return self.enforcer


class UnreachableClusters:
    """The Kubernetes API of every cluster times out."""

    def api_client(self, name: str) -> Any:
        raise KubeError(f"GET https://{name}.k8s.example.test/apis/argoproj.io: read timed out")


def run(
    index: int, phase: str, progress: str, *, template: str = "nightly-etl", by: str = "U0ALICE"
) -> records.Run:
    return records.Run(
        id=f"r-20240501-{index:04x}",
        kind=records.RUN_WORKFLOW,
        cluster="prod-eu",
        namespace="batch",
        name=f"{template}-{('x7k2p', 'q8w4n', 'b3m9t')[index % 3]}",
        template=template,
        parameters={},
        revision=None,
        requester_id=by,
        requester_name="",
        channel_id="C0OPS",
        parent_ts=None,
        phase=phase,
        progress=progress,
        message="",
        created_at=NOW - timedelta(hours=index, minutes=7 * index),
        updated_at=NOW,
        finished_at=None,
        final_posted=False,
        resource_version=None,
        k8s_uid=None,
    )


@dataclass
class RunBook:
    runs: list[records.Run] = field(default_factory=list)

    def recent(self, **query: Any) -> list[records.Run]:
        return list(self.runs)


@dataclass(frozen=True, kw_only=True)
class AnnounceCommand(Command):
    pass


def start_then_lose_slack(ctx: Context, command: AnnounceCommand) -> Reply:
    """What `run` does when the workflow was submitted and Slack failed right after."""
    ctx.wrote("Started `nightly-etl-x7k2p` from `nightly-etl` on `prod-eu/batch`.", run_id="r-20240501-7f3a")
    raise UpstreamError("chat.postMessage: 503 service_unavailable")


ANNOUNCE = Verb(
    name="announce-test",
    command=AnnounceCommand,
    summary="(test) write, then fail to announce.",
    area="workflows",
    execute=start_then_lose_slack,
    writes=True,
)


def deps(*, extra: tuple[Verb, ...] = ()) -> Deps:
    settings = Settings(
        clusters=(
            ClusterSettings(
                name="prod-eu",
                auth=KubeconfigAuth(kind="kubeconfig"),
                workflows_namespace="batch",
                channels=("C0OPS",),
            ),
            ClusterSettings(name="dev", auth=KubeconfigAuth(kind="kubeconfig")),
        ),
    )
    return Deps(
        settings=settings,
        policy=Policies(),
        audit=Audit(),
        registry=build_registry().with_verbs(extra),
        clock=lambda: NOW,
        clusters=UnreachableClusters(),
        runs=RunBook(
            [
                run(0, "Running", "1/3"),
                run(1, "Failed", "1/3", template="db-migrate", by="U0BOB"),
                run(2, "Succeeded", "4/4", template="report-daily"),
            ]
        ),
    )


def answer(text: str, *, actor: Actor = ALICE) -> Reply:
    origin = Origin(surface=Surface.SLASH, channel_id="C0OPS", user_id=actor.user_id, text=text)
    # the test-only verb is known only where it is used, so `help` lists the bot's verbs alone
    extra = (ANNOUNCE,) if text == ANNOUNCE.name else ()
    return pipeline.handle_text(origin=origin, actor=actor, deps=deps(extra=extra), reference="a1b2c3d4")


TYPED: dict[str, tuple[str, Actor]] = {
    "answer_help": ("help", ALICE),
    "answer_help_run": ("help run", ALICE),
    "answer_whoami": ("whoami", ALICE),
    "answer_runs": ("runs", ALICE),
    "error_syntax_with_usage": ("run", ALICE),
    "error_unknown_command": ("rnu nightly-etl", ALICE),
    "error_permission_denied": ("audit --limit 5", ALICE),
    "error_upstream_failure": ("status nightly-etl-x7k2p --cluster prod-eu", ALICE),
    "error_written_announcement_follows": ("announce-test", ALICE),
}


@pytest.mark.parametrize("name", sorted(TYPED))
def test_typed_answer(name: str, golden_reply: Callable[..., None]) -> None:
    text, actor = TYPED[name]
    golden_reply(name, answer(text, actor=actor))


def test_the_error_replies_say_what_happened() -> None:
    assert "a1b2c3d4" in answer("status nightly-etl-x7k2p --cluster prod-eu").text
    assert "prod-eu" in answer("status nightly-etl-x7k2p --cluster prod-eu").text
    assert "Started `nightly-etl-x7k2p`" in answer("announce-test").text
    assert "/ops run" in answer("run").text  # the usage, with the slash command filled in


# -- answers rendered from fixed inputs ---------------------------------------------------------

TEMPLATES = [
    TemplateInfo(
        name="nightly-etl",
        namespace="batch",
        description="Load yesterday's orders into the warehouse",
        entrypoint="main",
        params=(
            TemplateParam("date"),
            TemplateParam("tables", default="orders,customers"),
            TemplateParam("dry-run", default="false", enum=("true", "false")),
            TemplateParam("note", default=""),
        ),
    ),
    TemplateInfo(
        name="db-migrate",
        namespace="batch",
        description="",
        entrypoint="migrate",
        params=(TemplateParam("target"), TemplateParam("lock-timeout", default="30s")),
    ),
    TemplateInfo(
        name="cache-warmup", namespace="batch", description="Warm the CDN cache", entrypoint="main", params=()
    ),
]

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def step(
    index: int, name: str, phase: str, started: int, finished: int | None, exit_code: int | None
) -> StepView:
    node = f"nightly-etl-x7k2p-{1000 + index}"
    return StepView(
        node_id=node,
        name=name,
        template=name,
        phase=phase,
        started_at=START + timedelta(seconds=started),
        finished_at=START + timedelta(seconds=finished) if finished is not None else None,
        message="Error (exit code 1)" if exit_code else "",
        exit_code=exit_code,
        log_key=f"argo-logs/batch/nightly-etl-x7k2p/{node}/main.log" if finished is not None else None,
    )


STEPS = (
    step(0, "extract", "Succeeded", 1, 64, 0),
    step(1, "migrate", "Failed", 65, 72, 1),
    step(2, "load", "Omitted", 73, None, None),
)
FAILED = RunState(
    phase="Failed",
    progress="1/3",
    started_at=START,
    finished_at=START + timedelta(seconds=73),
    message="child 'nightly-etl-x7k2p-1001' failed",
    shutdown=None,
    steps=STEPS,
)
URLS = {
    s.name: f"https://s3.example.test/{s.log_key}?X-Amz-Expires=3600&X-Amz-Signature=0c1d2e"
    for s in STEPS
    if s.log_key
}
TAIL = """\
2024-05-01T02:01:10Z connecting to postgres://etl@db.batch.svc:5432/warehouse
2024-05-01T02:01:12Z ERROR: relation "orders_v2" does not exist
2024-05-01T02:01:12Z migration 0042 failed, rolling back
"""

RENDERED: dict[str, Reply] = {
    "answer_templates": templates_reply(TEMPLATES, cluster="prod-eu", namespace="batch"),
    "answer_templates_none": templates_reply([], cluster="dev", namespace="argo"),
    "answer_status": status_reply(
        name="nightly-etl-x7k2p", cluster="prod-eu", namespace="batch", state=FAILED
    ),
    "answer_logs": logs_reply(name="nightly-etl-x7k2p", steps=STEPS, urls=URLS, tail=None),
    "answer_logs_of_a_step": logs_reply(name="nightly-etl-x7k2p", steps=STEPS[1:2], urls=URLS, tail=TAIL),
}


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_rendered_answer(name: str, golden_reply: Callable[..., None]) -> None:
    golden_reply(name, RENDERED[name])

"""Workflows from Slack end to end: submit, follow in a thread, logs from S3, stop with a button."""

from __future__ import annotations

import urllib.request
from typing import Any

from e2e_world import ADMIN, DEV, OPS_CHANNEL, STRANGER, World
from e2e_world import message_text as _text

from bot.sandbox.waiting import wait_until
from bot.sandbox.world import SandboxWorld

WF_GROUP, WF_VERSION = "argoproj.io", "v1alpha1"


def _submitted(world: World, user: str, text: str) -> str:
    answer = _text(world.command(user, text))
    assert "Submitted `" in answer, answer
    return answer.split("Submitted `", 1)[1].split("`", 1)[0]


def _parent(world: World, name: str, *, phase: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for message in world.driver.messages(OPS_CHANNEL):
            if name in _text(message) and phase in _text(message):
                return message
        return None

    return wait_until(find, timeout=30, message=f"the parent message of {name} to show {phase}")


def _thread(world: World, parent: dict[str, Any], *, contains: str) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (
            (r := world.driver.replies(OPS_CHANNEL, parent["ts"]))
            and any(contains in _text(m) for m in r[1:])
            and r
        ),
        timeout=30,
        message=f"a thread reply containing {contains!r}",
    )


def _workflows(sandbox: SandboxWorld, cluster: str = "dev") -> list[dict[str, Any]]:
    return sandbox.kube[cluster].store.list(WF_GROUP, WF_VERSION, "workflows", "argo")


def test_run_follows_a_workflow_to_success_in_one_thread(world: World, sandbox: SandboxWorld) -> None:
    name = _submitted(world, DEV, "run hello -p greeting=hi --cluster dev")
    parent = _parent(world, name, phase="Succeeded")
    replies = _thread(world, parent, contains="Succeeded")
    thread_text = "\n".join(_text(m) for m in replies[1:])
    assert "prepare" in thread_text and "greet" in thread_text
    assert sum(name in _text(m) for m in world.driver.messages(OPS_CHANNEL)) == 1, "one parent per run"
    workflow = next(w for w in _workflows(sandbox) if w["metadata"]["name"] == name)
    assert workflow["spec"]["arguments"]["parameters"] == [{"name": "greeting", "value": "hi"}]
    assert set(workflow["spec"]) == {"workflowTemplateRef", "arguments"}  # the Strict shape
    row = world.audit.recent(actor_id=DEV, limit=1)[0]
    assert (row.command, row.decision, row.result, row.object) == ("run", "allow", "ok", "dev/argo/hello")


def test_a_failed_step_shows_its_last_log_lines_and_a_working_link(world: World) -> None:
    name = _submitted(world, ADMIN, "run db-migration --cluster dev")
    parent = _parent(world, name, phase="Failed")
    replies = _thread(world, parent, contains="violates foreign key constraint")
    summary = next(m for m in replies[1:] if "violates foreign key constraint" in _text(m))
    links = [part for part in _text(summary).split() if "X-Amz-Signature" in part]
    assert links, _text(summary)
    bodies = []
    for link in links:  # one presigned S3 link per step; the failed step's holds the migration
        with urllib.request.urlopen(link.strip("<>").split("|")[0], timeout=10) as response:
            bodies.append(response.read())
    assert any(b"0042_orders_customer_fk" in body for body in bodies)
    logs = _text(world.command(ADMIN, f"logs {name} migrate --cluster dev"))
    assert "Key (customer_id)=(4242)" in logs


def test_bad_parameters_are_refused_before_anything_reaches_the_cluster(
    world: World, sandbox: SandboxWorld
) -> None:
    before = len(_workflows(sandbox))
    assert "database" in _text(world.command(ADMIN, "run db-migration -p databse=orders --cluster dev"))
    answer = _text(world.command(ADMIN, "run deploy-report -p env=qa --cluster dev"))
    assert "dev" in answer and "staging" in answer and "prod" in answer
    assert len(_workflows(sandbox)) == before


def test_templates_lists_only_what_the_caller_may_run(world: World) -> None:
    listing = _text(world.command(DEV, "templates --cluster dev"))
    assert "hello" in listing and "db-migration" in listing and "greeting" in listing
    refused = _text(world.command(STRANGER, "templates --cluster dev"))
    assert "workflows, run" in refused and "hello" not in refused


def test_status_of_someone_elses_workflow_reads_like_a_missing_one(world: World) -> None:
    name = _submitted(world, DEV, "run hello --cluster dev")
    world.policy_file.write_text(
        world.policy_file.read_text() + f"p, slack:{STRANGER}, workflows, get, prod/*, allow\n"
    )
    wait_until(
        lambda: "There is no workflow" in _text(world.command(STRANGER, f"status {name} --cluster dev")),
        timeout=15,
        interval=0.5,
        message="a refusal that does not reveal the workflow",
    )
    missing = _text(world.command(STRANGER, "status hello-zzzzz --cluster dev"))
    allowed = _text(world.command(ADMIN, f"status {name} --cluster dev"))
    assert missing.replace("hello-zzzzz", "X") == _text(
        world.command(STRANGER, f"status {name} --cluster dev")
    ).replace(name, "X")
    assert "prepare" in allowed


def test_the_stop_button_stops_a_running_workflow(world: World, sandbox: SandboxWorld) -> None:
    sandbox.workflow_controllers["dev"].script(step="count", workflow="hello-*", duration=600)
    try:
        name = _submitted(world, DEV, "run hello --cluster dev")
        parent = _parent(world, name, phase="Running")
        # a click is checked like a typed command: the stranger may not stop it
        world.driver.click(user=STRANGER, channel=OPS_CHANNEL, ts=parent["ts"], action_id="run_stop")
        refusal = wait_until(
            lambda: [e for e in world.driver.ephemerals(user=STRANGER) if "workflows, stop" in _text(e)],
            timeout=15,
            message="the stranger's refusal",
        )
        assert refusal
        world.driver.click(user=ADMIN, channel=OPS_CHANNEL, ts=parent["ts"], action_id="run_stop")
        stopped = _parent(world, name, phase="Stopped")
        buttons = [e.get("action_id") for b in stopped.get("blocks") or [] for e in b.get("elements") or []]
        assert "run_stop" not in buttons and "run_logs" in buttons
        assert any(
            r.command == "stop" and r.decision == "allow" for r in world.audit.recent(actor_id=ADMIN, limit=5)
        )
        assert any(
            r.command == "stop" and r.decision == "deny"
            for r in world.audit.recent(actor_id=STRANGER, limit=5)
        )
    finally:
        sandbox.workflow_controllers["dev"].script(step="count", workflow="hello-*", duration=0.1)

"""Workflow verbs through the pipeline: permission on the precise object, the run row, the audit row."""

from __future__ import annotations

from commands_world import Tier
from e2e_world import ADMIN, DEV, OPS_CHANNEL, PROD_CHANNEL, STRANGER

from bot import records
from bot.errors import SlackError
from bot.store.repos import OutboxRepo


def test_run_records_the_run_submits_it_and_audits_the_precise_object(tier: Tier) -> None:
    before = len(tier.workflows())
    reply = tier.do(DEV, "run hello -p greeting=hi")

    assert reply.text.startswith(":rocket: Submitted `hello-")
    name = reply.text.split("`")[1]
    assert any(w["metadata"]["name"] == name for w in tier.workflows())
    assert len(tier.workflows()) == before + 1
    audit = tier.last_audit(DEV)
    assert (audit.command, audit.resource, audit.action) == ("run", "workflows", "run")
    assert audit.object == "dev/argo/hello"
    assert (audit.decision, audit.result) == ("allow", "ok")
    assert audit.run_id is not None
    run = tier.runs.get(audit.run_id)
    assert run is not None and run.name == name and run.requester_id == DEV


def test_a_run_outside_the_persons_clusters_is_refused_and_nothing_is_written(tier: Tier) -> None:
    before = len(tier.workflows("prod"))
    reply = tier.do(DEV, "run hello --cluster prod", channel=PROD_CHANNEL)

    assert "workflows, run" in reply.text
    assert len(tier.workflows("prod")) == before
    audit = tier.last_audit(DEV)
    assert (audit.object, audit.decision, audit.result) == ("prod/argo/hello", "deny", "refused")


def test_stop_of_a_workflow_is_audited_with_its_precise_object_never_a_wildcard(tier: Tier) -> None:
    name = tier.do(ADMIN, "run hello").text.split("`")[1]
    reply = tier.do(ADMIN, f"stop {name}")

    assert "asked" in reply.text and name in reply.text
    audit = tier.last_audit(ADMIN)
    assert (audit.command, audit.object, audit.result) == ("stop", "dev/argo/hello", "ok")
    refused = tier.do(STRANGER, f"terminate {name}")
    assert "workflows, terminate" in refused.text and "hello" not in refused.text.replace(name, "")
    assert tier.last_audit(STRANGER).object == f"dev/argo/{name}"  # what was asked, not `*`


def test_slack_failing_after_the_write_says_it_started_and_audits_it(tier: Tier) -> None:
    """Act is not announce: once the workflow exists, a failure to follow it is no 'nothing was done'."""

    class BrokenFollower:
        def follow(self, run: object) -> object:
            raise SlackError("chat.postMessage failed: service unavailable", transient=True)

    launcher = tier.deps.launcher
    assert launcher is not None
    broken = type(launcher)(runs=tier.runs, follower=BrokenFollower())
    deps = type(tier.deps)(**{**tier.deps.__dict__, "launcher": broken})
    before = {w["metadata"]["name"] for w in tier.workflows()}

    reply = tier.do(DEV, "run hello", deps=deps)

    created = {w["metadata"]["name"] for w in tier.workflows()} - before
    assert len(created) == 1
    (name,) = created
    assert reply.text.startswith(f":white_check_mark: Started `{name}`")
    assert "nothing was done" not in reply.text and "progress message will follow" in reply.text
    audit = tier.last_audit(DEV)
    assert audit.result == "error" and audit.run_id is not None and audit.object == "dev/argo/hello"


def test_a_refused_submission_closes_its_run_row(tier: Tier) -> None:
    reply = tier.do(DEV, "run no-such-template")
    assert "There is no WorkflowTemplate `no-such-template`" in reply.text
    assert all(run.template != "no-such-template" for run in tier.runs.unfinished())


def test_the_stop_button_is_the_stop_verb_with_the_same_checks(tier: Tier) -> None:
    name = tier.do(ADMIN, "run hello").text.split("`")[1]
    run = next(r for r in tier.runs.recent(limit=5) if r.name == name)

    refused = tier.click(STRANGER, "run_stop", run.id)
    assert "workflows, stop" in refused.text
    assert tier.last_audit(STRANGER).object == f"dev/argo/{name}"
    stopped = tier.click(ADMIN, "run_stop", run.id)
    assert "asked" in stopped.text
    audit = tier.last_audit(ADMIN)
    assert (audit.command, audit.object) == ("stop", "dev/argo/hello")
    assert ":warning:" in tier.click(ADMIN, "run_stop", "0" * 32).text


def test_logs_of_a_failed_run_show_the_failed_steps_last_lines(tier: Tier) -> None:
    name = tier.do(ADMIN, "run db-migration").text.split("`")[1]
    tier.wait(
        lambda: any(
            w["metadata"]["name"] == name and (w.get("status") or {}).get("phase") == "Failed"
            for w in tier.workflows()
        ),
        message=f"{name} to fail",
    )

    reply = tier.do(ADMIN, f"logs {name}")

    (section,) = reply.sections
    assert section.startswith("Last lines of `migrate`:")
    assert "violates foreign key constraint" in section


def test_log_links_only_for_the_runs_own_keys_in_the_configured_bucket(tier: Tier) -> None:
    name = tier.do(ADMIN, "run hello").text.split("`")[1]
    workflow = tier.wait(
        lambda: next(
            (
                w
                for w in tier.workflows()
                if w["metadata"]["name"] == name and (w.get("status") or {}).get("phase") == "Succeeded"
            ),
            None,
        ),
        message=f"{name} to succeed",
    )
    nodes = workflow["status"]["nodes"]
    pod = next(node_id for node_id, node in nodes.items() if node.get("type") == "Pod")
    artifacts = nodes[pod]["outputs"]["artifacts"]
    for artifact in artifacts:  # the step now claims another run's log
        artifact["s3"]["key"] = "argo/someone-elses-run/pod/main.log"
    tier.sandbox.kube["dev"].store.patch_status(
        "argoproj.io",
        "v1alpha1",
        "workflows",
        "argo",
        name,
        {"nodes": {pod: {"outputs": {"artifacts": artifacts}}}},
    )

    reply = tier.do(ADMIN, f"logs {name}")

    assert "someone-elses-run" not in reply.text
    assert reply.text.count("|main.log>") == len([n for n in nodes.values() if n.get("type") == "Pod"]) - 1


def test_every_step_reply_lands_in_order_before_the_summary_and_the_parent_ends_final(tier: Tier) -> None:
    # The parent's final edit goes on the chat.update budget and does not wait for the thread's
    # replies (so under load the final state shows first where the budget allows); the thread
    # itself keeps its order: every step reply, then the summary last.
    name = tier.do(ADMIN, "run hello").text.split("`")[1]
    outbox = OutboxRepo(tier.world.bot.database)

    def delivered() -> records.Run | None:
        run = next((r for r in tier.runs.recent(limit=20) if r.name == name), None)
        if run is None or not run.final_posted or not run.parent_ts:
            return None
        return run if all(m.status in ("delivered", "skipped") for m in outbox.for_run(run.id)) else None

    run: records.Run = tier.wait(delivered, message=f"every message of {name} delivered")
    assert run.parent_ts is not None
    parent = next(m for m in tier.world.driver.messages(OPS_CHANNEL) if m["ts"] == run.parent_ts)
    *steps, summary = tier.world.driver.replies(OPS_CHANNEL, run.parent_ts)[1:]

    assert steps and "Succeeded" in str(parent.get("blocks"))
    stamps = [float(reply["ts"]) for reply in [*steps, summary]]
    assert stamps == sorted(stamps)
    assert name in str(summary) and "Succeeded" in str(summary)


def test_runs_status_and_summary_agree_on_step_counts_and_a_stopped_run_is_never_failed(tier: Tier) -> None:
    name = tier.do(ADMIN, "run hello").text.split("`")[1]
    tier.wait(
        lambda: any(
            w["metadata"]["name"] == name and (w.get("status") or {}).get("nodes") for w in tier.workflows()
        ),
        message=f"{name} to start",
    )
    assert "asked" in tier.do(ADMIN, f"stop {name}").text
    outbox = OutboxRepo(tier.world.bot.database)

    def ended() -> records.Run | None:
        run = next((r for r in tier.runs.recent(limit=20) if r.name == name), None)
        if run is None or not run.final_posted:
            return None
        return run if all(m.status in ("delivered", "skipped") for m in outbox.for_run(run.id)) else None

    run: records.Run = tier.wait(ended, message=f"{name} to end and be announced", timeout=60)
    assert run.parent_ts is not None
    summary = str(tier.world.driver.replies(OPS_CHANNEL, run.parent_ts)[-1])
    status = tier.do(ADMIN, f"status {name}").text
    listed = next(line for line in tier.do(ADMIN, "runs").text.splitlines() if name in line)

    assert run.phase == "Stopped" and "Failed" not in listed and "Stopped" in listed
    assert "*Stopped*" in status and "Failed" not in status.splitlines()[0]
    assert f"{run.progress} steps succeeded" in status
    assert f"{run.progress} steps succeeded" in summary and f" {run.progress}," in listed


def test_retry_checks_the_old_parameters_against_the_template_as_it_is_now(tier: Tier) -> None:
    name = tier.do(ADMIN, "run deploy-report -p env=staging").text.split("`")[1]
    store = tier.sandbox.kube["dev"].store
    template = store.get("argoproj.io", "v1alpha1", "workflowtemplates", "argo", "deploy-report")
    parameters = template["spec"]["arguments"]["parameters"]
    before = len(tier.workflows())
    try:  # the template's owner drops `staging` from the enum
        changed = [dict(p, enum=["dev", "prod"]) if p["name"] == "env" else p for p in parameters]
        store.patch_merge(
            "argoproj.io",
            "v1alpha1",
            "workflowtemplates",
            "argo",
            "deploy-report",
            {"spec": {"arguments": {"parameters": changed}}},
        )

        reply = tier.do(ADMIN, f"retry {name}")

        assert "`env` must be one of `dev`, `prod` (got `staging`)" in reply.text, reply.text
        assert len(tier.workflows()) == before  # nothing submitted
    finally:
        store.patch_merge(
            "argoproj.io",
            "v1alpha1",
            "workflowtemplates",
            "argo",
            "deploy-report",
            {"spec": {"arguments": {"parameters": parameters}}},
        )


def test_in_a_channel_bound_to_one_cluster_a_command_without_cluster_is_for_that_cluster(tier: Tier) -> None:
    before = len(tier.workflows("prod"))
    reply = tier.do(ADMIN, "run hello", channel=PROD_CHANNEL)

    assert "on `prod/argo`" in reply.text, reply.text
    assert len(tier.workflows("prod")) == before + 1
    assert "on `dev/argo`" in tier.do(ADMIN, "run hello").text  # elsewhere: the first cluster

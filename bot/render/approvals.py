"""The approval card: a pending request with Approve/Reject, then its decided or expired form.

`render_request` shows the application, the revisions with their history ids (from -> to),
who asked, why, and when the request expires (Slack date formatting, so each reader sees their
own time zone), with an Approve button (primary, behind a confirm dialog) and a Reject button
(danger). Both buttons carry only the approval id: the click handler reads everything else
from the database. `render_decided` and `render_expired` replace the card (`chat.update`) with
the same facts, the outcome and no buttons.

Every output stays inside Slack's limits for any input: reasons, names and revisions
are cut with a visible mark and escaped (`&`, `<`, `>`), so a reason such as `<!channel>`
cannot ping anyone. Pure: no I/O, no clock (`now` is passed in). Leaves out posting and
updating (the handlers do it). Called by the rollback command and the approval buttons.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.approvals import flow
from bot.rbac.policy import ACTION_SYNC
from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXECUTED,
    APPROVAL_EXPIRED,
    APPROVAL_FAILED,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
    Approval,
)
from bot.render import mrkdwn
from bot.render.blocks import MAX_HEADER, MAX_TEXT, Block, context, fields_section, header, section, truncate

ACTION_APPROVE = "approval_approve"
ACTION_REJECT = "approval_reject"

MAX_FIELD = 300
MAX_REASON = 1500
MAX_DETAIL = 600
MAX_NAME = 120
MAX_CONFIRM_TEXT = 300  # Slack's limit for a confirm dialog's text

_SHA = re.compile(r"^[0-9a-f]{40}$")


def render_request(
    approval: Approval, *, now: datetime, changes: Sequence[Block] = ()
) -> tuple[str, list[Block]]:
    """The card asking for a decision, with Approve and Reject buttons.

    Args:
        approval: the pending request.
        now: the current time, for "expires in 59m".
        changes: what will change (`bot.render.changes.changes_blocks`), shown before the buttons.

    Returns:
        The notification text and the blocks for `chat.postMessage`.
    """
    emoji = {ACTION_SYNC: ":arrows_counterclockwise:", flow.ACTION_RESUME: ":raised_hand:"}.get(
        approval.action, ":vertical_traffic_light:" if flow.is_rollout(approval) else ":rewind:"
    )
    title = f"{emoji} {_action(approval)} requested: {approval.app}"
    if approval.action == flow.ACTION_RESUME:
        title = f"{emoji} Approval needed: step {approval.to_revision} of {approval.app}"
    blocks = _facts(approval, title=title)
    blocks.extend(changes)
    if approval.required_approvals > 1 or approval.approvers:
        blocks.append(section(f":ballot_box_with_check: {flow.quorum_text(approval)}"))
    left = mrkdwn.aware(approval.expires_at) - mrkdwn.aware(now)
    blocks.append(
        section(f":hourglass: Expires {_date(approval.expires_at)} (in {_left(left.total_seconds())})")
    )
    blocks.append({"type": "actions", "block_id": f"approval:{approval.id}", "elements": _buttons(approval)})
    blocks.append(
        context(
            f"approval {mrkdwn.code(approval.id)} · needs `{flow.permission_of(approval)[0]}, approve` on "
            f"{mrkdwn.code(flow.object_of(approval), limit=MAX_FIELD)}"
        )
    )
    text = f"{_action(approval)} of {approval.app} requested by {_who(approval)}: approve or reject"
    return truncate(text, MAX_TEXT), blocks


def render_decided(approval: Approval, *, detail: str | None = None) -> tuple[str, list[Block]]:
    """The card once decided: who approved or rejected it and when, and what the action did.

    Args:
        approval: the request after the decision (approved, rejected, executed or failed).
        detail: why the action failed (from `mark_failed`), shown quoted.
    """
    if approval.status == APPROVAL_EXPIRED:
        return render_expired(approval)
    decider = f"<@{mrkdwn.escape(approval.decided_by)}>" if approval.decided_by else "someone"
    if approval.status != APPROVAL_REJECTED and len(approval.votes) > 1:
        decider = " and ".join(f"<@{mrkdwn.escape(vote.user_id)}>" for vote in approval.votes)
    when = f" {_date(approval.decided_at)}" if approval.decided_at else ""
    withdrawn = approval.status == APPROVAL_REJECTED and approval.decided_by == approval.requester_id
    if withdrawn:
        emoji, line = ":leftwards_arrow_with_hook:", f"Withdrawn by {decider} (the requester){when}"
    elif approval.status == APPROVAL_REJECTED:
        emoji, line = ":no_entry:", f"Rejected by {decider}{when}"
    elif approval.status == APPROVAL_EXECUTED:
        emoji, line = ":white_check_mark:", f"Approved by {decider}{when}; the {_verb(approval)} started"
        if approval.action == flow.ACTION_RESUME:
            line = f"Approved by {decider}{when}; the workflow went on past this step"
        elif approval.run_id:
            line += f" (run {mrkdwn.code(approval.run_id)})"
    elif approval.status == APPROVAL_FAILED:
        emoji, line = ":x:", f"Approved by {decider}{when}, but the {_verb(approval)} failed"
    elif approval.status == APPROVAL_APPROVED:
        emoji = ":arrows_counterclockwise:"
        line = f"Approved by {decider}{when}; starting the {_verb(approval)}…"
    else:  # still pending: a caller asked too early; show it without buttons rather than lie
        emoji, line = ":hourglass:", "Waiting for a decision"
    word = _status_word(approval, withdrawn=withdrawn)
    blocks = _facts(approval, title=f"{emoji} {_action(approval)} {word.lower()}: {approval.app}")
    blocks.append(section(f"{emoji} {line}"))
    if detail and detail.strip() and approval.status == APPROVAL_FAILED:
        blocks.append(section(_quote(detail)))
    blocks.append(context(f"approval {mrkdwn.code(approval.id)}"))
    text = f"{_action(approval)} of {approval.app}: {word.lower()}"
    return truncate(text, MAX_TEXT), blocks


def pinned_note(app: str, *, slash: str) -> str:
    """The rollback thread's note once auto-sync was turned off: the app is pinned until it is on."""
    return (
        f":pushpin: Auto-sync is off for {mrkdwn.code(app)}: it stays on this revision, and Argo CD "
        f"will not sync it from Git. Revert the change in Git, then type `{slash} autosync "
        f"{mrkdwn.escape(app)} on`. The channel is reminded once a day until then."
    )


def pin_reminder(app: str, *, since: datetime, by: str, slash: str) -> str:
    """The daily reminder of an app a rollback pinned: how long, who, and what to do."""
    who = f" by {mrkdwn.escape(truncate(by, MAX_NAME))}" if by else ""
    return (
        f":pushpin: {mrkdwn.code(app)} has been pinned since its rollback {_date(since)}{who}: "
        "auto-sync is off, so Git changes do not reach it. Revert the change in Git, then type "
        f"`{slash} autosync {mrkdwn.escape(app)} on`."
    )


def render_expired(approval: Approval) -> tuple[str, list[Block]]:
    """The card once the request expired without a decision: no buttons, nothing was changed."""
    blocks = _facts(approval, title=f":hourglass: {_action(approval)} expired: {approval.app}")
    blocks.append(
        section(f":hourglass: Expired {_date(approval.expires_at)} without a decision; nothing was changed.")
    )
    blocks.append(context(f"approval {mrkdwn.code(approval.id)} · ask again to get a new request"))
    return truncate(f"{_action(approval)} of {approval.app}: expired", MAX_TEXT), blocks


# -- pieces ----------------------------------------------------------------------------------------


def _facts(approval: Approval, *, title: str) -> list[Block]:
    """Header, the facts every form of the card shows, and the reason."""
    blocks: list[Block] = [header(truncate(title, MAX_HEADER))]
    if flow.is_rollout(approval):
        blocks.extend(
            fields_section(
                (
                    ("Rollout", mrkdwn.code(flow.object_of(approval), limit=MAX_FIELD)),
                    ("Command", _rollout_command(approval)),
                    ("Requested by", _who(approval)),
                )
            )
        )
        return blocks
    if approval.action == flow.ACTION_RESUME:
        blocks.extend(
            fields_section(
                (
                    ("Workflow", mrkdwn.code(f"{approval.cluster}/{approval.project}/{approval.app}")),
                    ("Template", mrkdwn.code(approval.from_revision)),
                    ("Step", mrkdwn.code(approval.to_revision)),
                    ("Run by", _who(approval)),
                )
            )
        )
        return blocks
    from_id, to_id = flow.history_ids(approval)
    blocks.extend(
        fields_section(
            (
                ("Application", mrkdwn.code(_object(approval), limit=MAX_FIELD)),
                ("Requested by", _who(approval)),
                ("From", _revision(approval.from_revision, from_id)),
                ("To", _revision(approval.to_revision, to_id)),
            )
        )
    )
    if flow.turns_off_auto_sync(approval):
        blocks.append(
            section(
                f":pushpin: *Auto-sync is on*: the rollback turns it off, and {mrkdwn.code(approval.app)} "
                "stays on the rolled-back revision until someone reverts Git and runs `autosync "
                f"{mrkdwn.escape(approval.app)} on`."
            )
        )
    if approval.action == ACTION_SYNC and flow.sync_options(approval)[1]:
        blocks.append(section(":scissors: *With prune*: resources no longer in Git are deleted."))
    if approval.reason.strip():
        blocks.append(section("*Reason*\n" + _quote(approval.reason, limit=MAX_REASON)))
    return blocks


def _buttons(approval: Approval) -> list[Block]:
    app = truncate(approval.app, MAX_NAME)
    if flow.is_rollout(approval):
        what = f"gets `{_rollout_command(approval)}`"
    elif approval.action == flow.ACTION_RESUME:
        what = f"goes on past step {mrkdwn.code(approval.to_revision)}"
    elif approval.action == ACTION_SYNC:
        revision, prune = flow.sync_options(approval)
        to_text = "its target revision" if revision is None else "revision"
        what = f"syncs to {to_text}" + (" with prune" if prune else "")
    else:
        _, to_id = flow.history_ids(approval)
        what = "goes back to " + (f"history {to_id}" if to_id is not None else "the earlier revision")
    return [
        {
            "type": "button",
            "action_id": ACTION_APPROVE,
            "text": {"type": "plain_text", "text": "Approve", "emoji": True},
            "style": "primary",
            "value": approval.id,
            "confirm": {
                "title": {"type": "plain_text", "text": f"{_action(approval)}?"},
                "text": {
                    "type": "mrkdwn",
                    "text": truncate(
                        f"{mrkdwn.code(app)} {what}"
                        + (
                            ""
                            if approval.action == flow.ACTION_RESUME or flow.is_rollout(approval)
                            else f" ({mrkdwn.code(_short(approval.to_revision))})"
                        )
                        + f" {_when_it_runs(approval)}.",
                        MAX_CONFIRM_TEXT,
                    ),
                },
                "confirm": {"type": "plain_text", "text": "Approve"},
                "deny": {"type": "plain_text", "text": "Cancel"},
            },
        },
        {
            "type": "button",
            "action_id": ACTION_REJECT,
            "text": {"type": "plain_text", "text": "Reject", "emoji": True},
            "style": "danger",
            "value": approval.id,
        },
    ]


def _rollout_command(approval: Approval) -> str:
    """`abort`, `promote --full`, `undo 3`: the command the Rollout gets once approved."""
    asked = approval.action.removeprefix(flow.ROLLOUT_PREFIX)
    if asked == "promote-full":
        return "promote --full"
    if asked == "undo" and approval.target:
        return f"undo {mrkdwn.escape(approval.target)}"
    return mrkdwn.escape(asked)


def _when_it_runs(approval: Approval) -> str:
    if approval.required_approvals <= 1:
        return "as soon as you approve"
    return f"once {approval.required_approvals} people approved (yours counts as one)"


def _action(approval: Approval) -> str:
    if flow.is_rollout(approval):
        return "Rollout " + approval.action.removeprefix(flow.ROLLOUT_PREFIX).replace("-", " ")
    return truncate(approval.action, 30).capitalize() or "Action"


def _verb(approval: Approval) -> str:
    return "resume" if approval.action == flow.ACTION_RESUME else truncate(approval.action, 30) or "action"


def _status_word(approval: Approval, *, withdrawn: bool) -> str:
    if withdrawn:
        return "Withdrawn"
    return {
        APPROVAL_PENDING: "Pending",
        APPROVAL_APPROVED: "Approved",
        APPROVAL_REJECTED: "Rejected",
        APPROVAL_EXECUTED: "Approved",
        APPROVAL_FAILED: "Failed",
        APPROVAL_EXPIRED: "Expired",
    }.get(approval.status, approval.status)


def _object(approval: Approval) -> str:
    return f"{approval.cluster}/{approval.project}/{approval.app}"


def _who(approval: Approval) -> str:
    if approval.requester_id:
        return f"<@{mrkdwn.escape(truncate(approval.requester_id, 40))}>"
    return mrkdwn.escape(truncate(approval.requester_name, MAX_NAME)) or "someone"


def _revision(revision: str, history_id: int | None) -> str:
    shown = mrkdwn.code(_short(revision)) if revision else "_unknown revision_"
    return f"{shown} (history {history_id})" if history_id is not None else shown


def _short(revision: str) -> str:
    """A git commit as people quote it (7 characters); chart versions and tags as they are."""
    return revision[:7] if _SHA.match(revision) else revision


def _date(moment: datetime) -> str:
    """Slack date formatting (reader's time zone), with a UTC fallback for clients without it."""
    aware = mrkdwn.aware(moment)
    fallback = aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _left(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    if hours >= 24:
        return f"{hours // 24}d {hours % 24:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m" if minutes else "under a minute"


def _quote(text: str, *, limit: int = MAX_DETAIL) -> str:
    quoted = "\n".join(f"> {line}" for line in mrkdwn.escape(text.strip()).split("\n"))
    return truncate(quoted, limit)

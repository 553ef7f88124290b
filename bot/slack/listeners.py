"""bolt glue: ack first, turn the envelope into an `Origin`, hand it to the worker. Nothing else.

Requests from another workspace are not dropped here: the worker refuses them through the
action pipeline, which answers and audits the refusal.

The transport has acked already when the bot runs in its default way (the acker process,
`bot.slack.acker`); with the in-process transport (`slack.acker: thread`) bolt runs these
listeners with `process_before_response=True` on the Socket Mode client's threads and sends the
ack when the listener returns. Either way a listener only parses and queues: no Slack, database
or Kubernetes call happens here.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from slack_bolt import Ack, App

from bot.commands.grammar import strip_bot_mention
from bot.model import Origin, Surface
from bot.render.approvals import ACTION_APPROVE, ACTION_REJECT
from bot.render.runs import ACTION_LOGS, ACTION_OPEN_UI, ACTION_STOP

log = logging.getLogger(__name__)


class Sink(Protocol):
    def submit(self, origin: Origin) -> object: ...


def _acked(ack: Ack) -> None:
    ack()


def _team(body: dict[str, Any]) -> str | None:
    """The workspace a request came through: `team_id` (commands, events) or `team.id` (actions)."""
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team) if team else None


def _enterprise(body: dict[str, Any]) -> str | None:
    enterprise = body.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return str(enterprise) if enterprise else None


def register(app: App, *, command: str, sink: Sink, bot_user_id: str) -> None:
    """Attach the listeners for the slash command, app mentions, DMs and (for now) buttons."""

    @app.command(command)
    def on_command(ack: Ack, body: dict[str, Any]) -> None:
        _acked(ack)
        sink.submit(
            Origin(
                surface=Surface.SLASH,
                channel_id=str(body.get("channel_id", "")),
                user_id=str(body.get("user_id", "")),
                text=str(body.get("text") or ""),
                response_url=body.get("response_url"),
                trigger_id=body.get("trigger_id"),
                team_id=_team(body),
                enterprise_id=_enterprise(body),
            )
        )

    @app.event("app_mention")
    def on_mention(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        _acked(ack)
        if event.get("bot_id") or not event.get("user"):
            return
        sink.submit(
            Origin(
                surface=Surface.MENTION,
                channel_id=str(event.get("channel", "")),
                user_id=str(event["user"]),
                text=strip_bot_mention(str(event.get("text") or ""), bot_user_id),
                thread_ts=event.get("thread_ts"),
                delivery_id=body.get("event_id"),
                team_id=_team(body),
                enterprise_id=_enterprise(body),
            )
        )

    @app.action(ACTION_STOP)
    @app.action(ACTION_LOGS)
    @app.action(ACTION_APPROVE)
    @app.action(ACTION_REJECT)
    def on_button(ack: Ack, body: dict[str, Any]) -> None:
        _acked(ack)
        actions = body.get("actions") or [{}]
        container = body.get("container") or {}
        sink.submit(
            Origin(
                surface=Surface.BUTTON,
                channel_id=str((body.get("channel") or {}).get("id") or container.get("channel_id") or ""),
                user_id=str((body.get("user") or {}).get("id") or ""),
                text="",
                response_url=body.get("response_url"),
                thread_ts=container.get("thread_ts") or container.get("message_ts"),
                action_id=str(actions[0].get("action_id") or ""),
                action_value=str(actions[0].get("value") or ""),
                team_id=_team(body),
                enterprise_id=_enterprise(body),
            )
        )

    @app.action(ACTION_OPEN_UI)
    def on_link(ack: Ack) -> None:
        # a link button opens the URL in the browser; Slack still sends the click and wants an ack
        ack()

    @app.event("message")
    def on_message(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        _acked(ack)
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        if not event.get("user") or event.get("user") == bot_user_id:
            return
        sink.submit(
            Origin(
                surface=Surface.DM,
                channel_id=str(event.get("channel", "")),
                user_id=str(event["user"]),
                text=strip_bot_mention(str(event.get("text") or ""), bot_user_id),
                thread_ts=event.get("thread_ts"),
                delivery_id=body.get("event_id"),
                team_id=_team(body),
                enterprise_id=_enterprise(body),
            )
        )

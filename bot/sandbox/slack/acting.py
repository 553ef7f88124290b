"""Acting as a person in the workspace: slash commands, mentions, DMs, button clicks, modal submits.

Each action builds the payload Slack would build (slash command form fields as strings,
`block_actions` with the message as it is now, `view_submission` with `view.state.values`,
`event_callback` with `event_id`/`event_time`) and hands it to Socket Mode. What the app answers
is applied as Slack applies it: a slash command ack with text/blocks is shown to the user
(ephemeral unless `response_type: in_channel`), a view_submission ack's `response_action`
updates, pushes, clears or keeps the modal with errors. An unanswered slash command shows the user
Slack's `operation_timeout` error. The bot's own posts in a DM come back as `message.im` events.
Not here: the WebSocket itself (`socket_mode`), HTTP (`control`). Owned by `server.SlackSandbox`.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from typing import Any

from bot.sandbox.slack import blocks as block_kit
from bot.sandbox.slack.context import ApiError
from bot.sandbox.slack.responses import ResponseUrls
from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.workspace import Channel, SlackStateError, Workspace, new_id

Json = dict[str, Any]

VERIFICATION_TOKEN = "sandbox-verification-token"

_log = logging.getLogger(__name__)


class Interactions:
    """Turns "user U does X" into Socket Mode envelopes and applies the app's acks."""

    def __init__(
        self, *, workspace: Workspace, socket_mode: SocketModeServer, responses: ResponseUrls
    ) -> None:
        self._ws = workspace
        self._socket = socket_mode
        self._responses = responses

    # ----------------------------------------------------------------- shared bits
    def _user(self, user_id: str) -> Json:
        user = self._ws.get_user(user_id)
        if user.deleted:
            raise SlackStateError("user_not_found")
        return {"id": user.id, "username": user.name, "name": user.name, "team_id": self._ws.team_id}

    def _team(self) -> Json:
        return {"id": self._ws.team_id, "domain": self._ws.team_domain}

    def _event_callback(self, event: Json) -> Json:
        ws = self._ws
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "api_app_id": ws.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": new_id("Ev"),
            "event_time": int(ws.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }

    def _user_message(self, *, user: str, channel: Channel, text: str, thread_ts: str | None) -> Json:
        return self._ws.add_message(
            channel=channel,
            message={"user": user, "text": text, "client_msg_id": str(uuid.uuid4())},
            thread_ts=thread_ts,
        )

    # ----------------------------------------------------------------- slash commands
    def command(self, *, user: str, channel: str, command: str, text: str) -> Json:
        """A user types `/command text` in a channel; returns envelope_id, trigger_id, response_url."""
        ws = self._ws
        who = self._user(user)
        where = ws.get_channel(channel)
        trigger_id = ws.issue_trigger(user)
        response_url = self._responses.issue(kind="commands", user=user, channel=where.id)
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": where.id,
            "channel_name": "directmessage" if where.is_im else where.name,
            "user_id": user,
            "user_name": who["name"],
            "command": command,
            "text": text,
            "api_app_id": ws.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        origin = self._responses.origin_for_ack(user=user, channel=where.id)

        def on_ack(response: Json | None) -> None:
            if not response:
                return
            try:
                self._responses.deliver(origin=origin, payload=response, source="ack")
            except ApiError as exc:
                self._slackbot_says(
                    user=user, channel=where.id, text=f'{command} failed with the error "{exc.error}"'
                )

        def on_timeout(outcome: str) -> None:
            # What Slack shows when the app never acked, or when no socket was there to take it.
            error = "operation_timeout" if outcome == "timeout" else "dispatch_failed"
            self._slackbot_says(
                user=user, channel=where.id, text=f'{command} failed with the error "{error}"'
            )

        envelope_id = self._socket.dispatch(
            type="slash_commands",
            payload=payload,
            accepts_response_payload=True,
            on_ack=on_ack,
            on_timeout=on_timeout,
        )
        return {"envelope_id": envelope_id, "trigger_id": trigger_id, "response_url": response_url}

    def _slackbot_says(self, *, user: str, channel: str, text: str) -> None:
        self._ws.add_ephemeral(user=user, channel=channel, text=text, source="slack", from_user="USLACKBOT")

    # ----------------------------------------------------------------- events
    def mention(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> Json:
        """A user posts `<@BOT> text` in a channel; Slack stores the message and sends `app_mention`."""
        self._user(user)
        where = self._ws.get_channel(channel)
        full_text = f"<@{self._ws.bot_user_id}> {text}"
        message = self._user_message(user=user, channel=where, text=full_text, thread_ts=thread_ts)
        event: Json = {
            "type": "app_mention",
            "user": user,
            "text": full_text,
            "ts": message["ts"],
            "channel": where.id,
            "event_ts": message["ts"],
            "client_msg_id": message["client_msg_id"],
            "team": self._ws.team_id,
        }
        if message.get("thread_ts"):
            event["thread_ts"] = message["thread_ts"]
        return self._send_event(event) | {"ts": message["ts"], "channel": where.id}

    def dm(self, *, user: str, text: str) -> Json:
        """A user writes to the bot in their DM; Slack stores it and sends `message` with channel_type im."""
        self._user(user)
        where = self._ws.open_dm(user)
        message = self._user_message(user=user, channel=where, text=text, thread_ts=None)
        event = {
            "type": "message",
            "channel": where.id,
            "user": user,
            "text": text,
            "ts": message["ts"],
            "event_ts": message["ts"],
            "channel_type": "im",
            "client_msg_id": message["client_msg_id"],
            "team": self._ws.team_id,
        }
        return self._send_event(event) | {"ts": message["ts"], "channel": where.id}

    def say(self, *, user: str, channel: str, text: str, thread_ts: str | None = None) -> Json:
        """A user posts plain text in a channel or thread. The app hears nothing: it subscribes to
        mentions and its DMs only (a DM to the bot goes through `dm`)."""
        self._user(user)
        where = self._ws.get_channel(channel)
        if where.is_im:
            raise SlackStateError("use_dm")
        message = self._user_message(user=user, channel=where, text=text, thread_ts=thread_ts)
        return {"ts": message["ts"], "channel": where.id}

    def bot_message_posted(self, channel: Channel, message: Json) -> None:
        """Slack tells the app about its own posts in a DM too (apps must skip their own events)."""
        if not channel.is_im:
            return
        event = {
            k: v
            for k, v in message.items()
            if k
            in ("user", "bot_id", "app_id", "text", "ts", "thread_ts", "bot_profile", "blocks", "subtype")
        }
        event.update(
            {"type": "message", "channel": channel.id, "event_ts": message["ts"], "channel_type": "im"}
        )
        self._send_event(event)

    def _send_event(self, event: Json) -> Json:
        payload = self._event_callback(event)
        envelope_id = self._socket.dispatch(
            type="events_api",
            payload=payload,
            accepts_response_payload=False,
            label=f"event_callback/{event['type']}",
        )
        return {"envelope_id": envelope_id, "event_id": payload["event_id"]}

    # ----------------------------------------------------------------- block actions
    def click(self, *, user: str, channel: str, ts: str, action_id: str, value: str | None = None) -> Json:
        """A user clicks a button (or picks `value` in a select) in a message as it looks now.

        Raises:
            SlackStateError: `message_not_found` or `action_not_found` (the button is not there).
        """
        ws = self._ws
        who = self._user(user)
        where = ws.get_channel(channel)
        ephemeral = False
        with ws.lock:
            if ts in where.messages and where.messages[ts].get("subtype") != "tombstone":
                message = copy.deepcopy(where.messages[ts])
            else:
                message = copy.deepcopy(ws.find_ephemeral(ts))
                if message["to_user"] != user:
                    raise SlackStateError("message_not_found")
                ephemeral = True
        block_id, element = _find_element(message.get("blocks") or [], action_id=action_id, value=value)
        action: Json = {
            "action_id": action_id,
            "block_id": block_id,
            "type": element["type"],
            "action_ts": f"{time.time():.6f}",
        }
        if element["type"] == "button":
            action["text"] = element.get("text")
            if "value" in element:
                action["value"] = element["value"]
            if "style" in element:
                action["style"] = element["style"]
        else:
            option = _find_option(element, value)
            action["selected_option"] = option
        trigger_id = ws.issue_trigger(user)
        response_url = self._responses.issue(
            kind="actions",
            user=user,
            channel=where.id,
            message_ts=None if ephemeral else ts,
            ephemeral_ts=ts if ephemeral else None,
            thread_ts=message.get("thread_ts"),
        )
        container: Json = {
            "type": "message",
            "message_ts": ts,
            "channel_id": where.id,
            "is_ephemeral": ephemeral,
        }
        if message.get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]
        payload: Json = {
            "type": "block_actions",
            "user": who,
            "api_app_id": ws.app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": trigger_id,
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": where.id, "name": "directmessage" if where.is_im else where.name},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if not ephemeral:
            payload["message"] = message
        envelope_id = self._socket.dispatch(
            type="interactive", payload=payload, accepts_response_payload=True
        )
        return {"envelope_id": envelope_id, "trigger_id": trigger_id, "response_url": response_url}

    # ----------------------------------------------------------------- modals
    def submit_view(self, *, user: str, view_id: str, values: Json) -> Json:
        """A user presses Submit on an open modal with these input values.

        `values` is Slack's `state.values` shape (`{block_id: {action_id: {type, value...}}}`); a plain
        string in place of the inner object is filled in from the element's type in the view.
        """
        ws = self._ws
        who = self._user(user)
        with ws.lock:
            entry = ws.views.get(view_id)
            if (
                entry is None
                or not entry["open"]
                or entry["user"] != user
                or entry["view"]["type"] != "modal"
            ):
                raise SlackStateError("view_not_found")
            view = copy.deepcopy(entry["view"])
        view["state"] = {"values": _state_values(view.get("blocks") or [], values)}
        trigger_id = ws.issue_trigger(user)
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": who,
            "api_app_id": ws.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "view": view,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

        def on_ack(response: Json | None) -> None:
            self._apply_view_response(user=user, view_id=view_id, response=response or {})

        def on_timeout(reason: str) -> None:
            with ws.lock:
                ws.views[view_id]["errors"] = {"": f"We had some trouble connecting ({reason}). Try again?"}
                ws.changed("view", "updated", user=user, view_id=view_id, view_type="modal")

        envelope_id = self._socket.dispatch(
            type="interactive",
            payload=payload,
            accepts_response_payload=True,
            on_ack=on_ack,
            on_timeout=on_timeout,
        )
        return {"envelope_id": envelope_id, "trigger_id": trigger_id}

    def _apply_view_response(self, *, user: str, view_id: str, response: Json) -> None:
        ws = self._ws
        with ws.lock:
            for action, changed_id in self._change_views(user=user, view_id=view_id, response=response):
                ws.changed("view", action, user=user, view_id=changed_id, view_type="modal")

    def _change_views(self, *, user: str, view_id: str, response: Json) -> list[tuple[str, str]]:
        """Apply a view_submission ack's `response_action`; returns what changed (action, view id)."""
        ws = self._ws
        action = response.get("response_action")
        entry = ws.views[view_id]
        if action == "errors":
            entry["errors"] = response.get("errors") or {}
            return [("updated", view_id)]
        if action in ("update", "push") and not block_kit.check_view(response.get("view")):
            new_view = response["view"]
            if action == "update":
                for key in ("blocks", "private_metadata", "callback_id", "title", "close", "submit"):
                    if key in new_view:
                        entry["view"][key] = new_view[key]
                entry["errors"] = None
                return [("updated", view_id)]
            pushed = copy.deepcopy(entry["view"])
            pushed.update({k: new_view[k] for k in new_view})
            pushed.update({"id": new_id("V"), "previous_view_id": view_id, "state": {"values": {}}})
            ws.views[pushed["id"]] = {"view": pushed, "user": user, "open": True, "errors": None}
            return [("opened", pushed["id"])]
        if action in ("update", "push"):
            _log.warning("view_submission ack carried an invalid view; Slack would show an error")
            entry["errors"] = {"": "invalid view in response_action"}
            return [("updated", view_id)]
        targets = (
            [vid for vid, v in ws.views.items() if v["user"] == user and v["open"]]
            if action == "clear"
            else [view_id]
        )
        for target in targets:
            ws.views[target]["open"] = False
        return [("closed", target) for target in targets]


def _find_element(blocks: list[Json], *, action_id: str, value: str | None) -> tuple[str, Json]:
    for block in blocks:
        candidates: list[Json] = []
        if block.get("type") == "actions":
            candidates = list(block.get("elements") or [])
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            candidates = [block["accessory"]]
        for element in candidates:
            if element.get("action_id") != action_id:
                continue
            if value is not None and element.get("type") == "button" and element.get("value") != value:
                continue
            return str(block.get("block_id") or ""), element
    raise SlackStateError("action_not_found")


def _find_option(element: Json, value: str | None) -> Json:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if value is None or option.get("value") == value:
            return dict(option)
    raise SlackStateError("option_not_found")


def _state_values(blocks: list[Json], values: Json) -> Json:
    """Fill in Slack's state shape; a bare string becomes `{type, value}` or `{type, selected_option}`."""
    elements: dict[tuple[str, str], Json] = {}
    for block in blocks:
        element = block.get("element") if block.get("type") == "input" else block.get("accessory")
        if isinstance(element, dict):
            elements[(str(block.get("block_id", "")), str(element.get("action_id", "")))] = element
    state: Json = {}
    for block_id, actions in values.items():
        state[block_id] = {}
        for action_id, raw in actions.items():
            if isinstance(raw, dict):
                state[block_id][action_id] = raw
                continue
            element = elements.get((block_id, action_id), {"type": "plain_text_input"})
            kind = element.get("type", "plain_text_input")
            if kind in ("static_select", "radio_buttons"):
                state[block_id][action_id] = {
                    "type": kind,
                    "selected_option": _find_option(element, str(raw)),
                }
            else:
                state[block_id][action_id] = {"type": kind, "value": raw}
    return state

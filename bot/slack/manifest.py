"""The Slack app manifest for this bot, built from its configuration. Pure.

The scopes are exactly the ones the bot uses; `manifests/slack-app.yaml` is this output for
the default `/ops` command (a test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

BOT_SCOPES: tuple[tuple[str, str], ...] = (
    ("commands", "the slash command"),
    ("chat:write", "progress threads, approval cards, scheduled posts"),
    ("users:read", "who is asking (users.info)"),
    ("users:read.email", "email: subjects in the policy"),
    ("usergroups:read", "group: subjects in the policy"),
    ("channels:read", "channel names for bindings and messages"),
    ("groups:read", "the same for private channels"),
    ("im:history", "commands sent as direct messages"),
    ("app_mentions:read", '"@argo-ops run ..." in channels'),
    ("files:write", "long step logs attached as files"),
)
BOT_EVENTS = ("app_mention", "message.im")


def build_manifest(
    *, command: str = "/ops", name: str = "Argo ChatOps", bot_name: str = "argo-ops"
) -> dict[str, Any]:
    """The manifest to paste at api.slack.com/apps ("From an app manifest")."""
    return {
        "display_information": {
            "name": name,
            "description": "Run Argo Workflows, sync and roll back Argo CD apps, with approvals.",
            "background_color": "#1f4e79",
        },
        "features": {
            "bot_user": {"display_name": bot_name, "always_online": True},
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "slash_commands": [
                {
                    "command": command,
                    "description": f"Run workflows, sync apps, approve rollbacks (try {command} help)",
                    "usage_hint": "help | run TEMPLATE -p key=value | sync APP | rollback APP",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": [scope for scope, _ in BOT_SCOPES]}},
        "settings": {
            "event_subscriptions": {"bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True},
            "org_deploy_enabled": False,
            "socket_mode_enabled": True,
            "token_rotation_enabled": False,
        },
    }

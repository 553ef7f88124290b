"""The answers of `subscribe`, `unsubscribe` and `subscriptions`. Pure.

Each subscription reads as one line: its id (what `unsubscribe` takes), what it covers, its
triggers, and who it acts for. Called by `bot.commands.subscription_verbs`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.model import Reply, Visibility
from bot.records import SUBSCRIPTION_APPS, SUBSCRIPTION_FROM_CONFIG, Subscription

MAX_LISTED = 50


def describe(subscription: Subscription) -> str:
    """`apps shop-* in project shop on prod` / `workflows from templates nightly-*`."""
    if subscription.kind == SUBSCRIPTION_APPS:
        what = f"apps `{subscription.name}`"
        if subscription.project:
            what += f" in project `{subscription.project}`"
    else:
        what = f"workflows from templates `{subscription.name}`"
        if subscription.namespace:
            what += f" in namespace `{subscription.namespace}`"
        if subscription.selector:
            what += f" labelled `{subscription.selector}`"
    where = f" on `{subscription.cluster}`" if subscription.cluster else " on every cluster"
    return what + where


def line(subscription: Subscription) -> str:
    origin = "config file" if subscription.source == SUBSCRIPTION_FROM_CONFIG else "added in Slack"
    triggers = ", ".join(subscription.triggers)
    return (
        f"• `{subscription.id}`: {describe(subscription)}, on {triggers}; "
        f"for <@{subscription.created_by}> ({origin})"
    )


def listing_reply(subscriptions: Sequence[Subscription], *, slash: str) -> Reply:
    if not subscriptions:
        text = (
            "This channel has no subscriptions. For example "
            f"`{slash} subscribe apps 'shop-*' --on sync-started,sync-succeeded,sync-failed` "
            "posts a thread for every sync of the shop apps, whoever started it."
        )
        return Reply(text=text, visibility=Visibility.EPHEMERAL)
    lines = [f"*Subscriptions of this channel* ({len(subscriptions)}):"]
    lines += [line(s) for s in subscriptions[:MAX_LISTED]]
    if len(subscriptions) > MAX_LISTED:
        lines.append(f"…and {len(subscriptions) - MAX_LISTED} more")
    lines.append(f"`{slash} unsubscribe ID` removes one.")
    return Reply(text="\n".join(lines), visibility=Visibility.EPHEMERAL)


def added_reply(subscription: Subscription, *, slash: str) -> Reply:
    text = (
        f":bell: <@{subscription.created_by}> subscribed this channel to {describe(subscription)}, "
        f"on {', '.join(subscription.triggers)} (id `{subscription.id}`). Only what "
        f"<@{subscription.created_by}> may see is posted. `{slash} unsubscribe {subscription.id}` stops it."
    )
    return Reply(text=text, visibility=Visibility.IN_CHANNEL)


def removed_reply(subscription: Subscription, *, user_id: str) -> Reply:
    text = f":no_bell: <@{user_id}> removed subscription `{subscription.id}` ({describe(subscription)})."
    return Reply(text=text, visibility=Visibility.IN_CHANNEL)

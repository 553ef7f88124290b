"""What use cases need to say something in Slack durably: the `Announcer` protocol and priorities.

Pure (no Slack, no database): command handlers, approvals and the run follower depend on this
protocol; `bot.slack.outbox.Outbox` implements it by writing to the outbox table, from which
the leader's `OutboxDeliverer` sends. A message is named by a unique `key` (`parent:<run_id>`,
`summary:<run_id>`, `step:<run_id>:<n>`, `card:<approval_id>` ...): posting a key twice posts
once; editing under one key sends only the newest content. A reply names its thread by the key
of the message it belongs under (`thread_key`) or by a literal `thread_ts`; an edit names its
message by `target_key` or `target_ts`. Lower priority numbers go first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

PRIORITY_FINAL = 10  # a run's summary and the final state of its parent
PRIORITY_CARD = 10  # approval cards and their decisions
PRIORITY_FAILURE = 20  # a step or resource that failed
PRIORITY_NORMAL = 30  # parents and ordinary answers
PRIORITY_PROGRESS = 40  # intermediate progress (step started, parent edits while running)


def parent_key(run_id: str) -> str:
    """The key of a run's parent message (its thread)."""
    return f"parent:{run_id}"


def summary_key(run_id: str) -> str:
    """The key of a run's final summary reply."""
    return f"summary:{run_id}"


def edit_key(message_key: str) -> str:
    """The key under which the message `message_key` is edited (newest content wins).

    The deliverer relies on it: a message posted while its edit waits is posted with the edit's
    content (`OutboxRepo.pending_edit`).
    """
    return f"edit:{message_key}"


def parent_edit_key(run_id: str) -> str:
    """The key under which a run's parent message is edited (newest content wins)."""
    return edit_key(parent_key(run_id))


def card_key(approval_id: str) -> str:
    """The key of an approval request's card."""
    return f"card:{approval_id}"


def card_edit_key(approval_id: str) -> str:
    """The key under which an approval card is replaced (newest content wins)."""
    return edit_key(card_key(approval_id))


class Announcer(Protocol):
    """Enqueue Slack messages durably; returns at once, delivery happens on the leader."""

    def post(
        self,
        *,
        key: str,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        thread_key: str | None = None,
        thread_ts: str | None = None,
        priority: int = PRIORITY_NORMAL,
        run_id: str | None = None,
    ) -> None: ...

    def edit(
        self,
        *,
        key: str,
        channel: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        target_key: str | None = None,
        target_ts: str | None = None,
        priority: int = PRIORITY_NORMAL,
    ) -> None: ...

    def delivered_ts(self, key: str) -> str | None: ...


def edit_card(
    cards: Announcer,
    *,
    approval_id: str,
    channel: str,
    message_ts: str | None,
    text: str,
    blocks: Sequence[Mapping[str, Any]],
) -> None:
    """Replace an approval card's content (a card posted before the outbox is named by its ts)."""
    if message_ts:
        cards.edit(
            key=card_edit_key(approval_id),
            channel=channel,
            text=text,
            blocks=blocks,
            target_ts=message_ts,
            priority=PRIORITY_CARD,
        )
    else:
        cards.edit(
            key=card_edit_key(approval_id),
            channel=channel,
            text=text,
            blocks=blocks,
            target_key=card_key(approval_id),
            priority=PRIORITY_CARD,
        )

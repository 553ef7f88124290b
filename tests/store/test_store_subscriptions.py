"""Subscriptions added from Slack: stored with a short id, listed per channel after the config file's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count

from bot.records import SUBSCRIPTION_FROM_COMMAND, SUBSCRIPTION_FROM_CONFIG, Subscription
from bot.store.db import Database
from bot.store.subscriptions import SubscriptionBook

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CONFIGURED = Subscription(
    id="config-1",
    channel_id="C1",
    kind="apps",
    name="billing-*",
    triggers=("sync-failed",),
    created_by="UADMIN",
    created_at=datetime.fromtimestamp(0, UTC),
    source=SUBSCRIPTION_FROM_CONFIG,
)


def _ids(*values: str) -> Callable[[], str]:
    it = iter(values)
    return lambda: next(it)


def test_add_get_list_by_channel_and_remove(database: Database) -> None:
    numbers = count(1)
    book = SubscriptionBook(database, configured=[CONFIGURED], new_id=lambda: f"sub-{next(numbers):06d}")
    shop = book.add(
        channel_id="C1",
        kind="apps",
        name="shop-*",
        project="shop",
        cluster="prod-eu",
        triggers=("sync-started", "sync-failed"),
        created_by="U1",
        now=T0,
    )
    book.add(
        channel_id="C2", kind="workflows", name="nightly-*", triggers=("failed",), created_by="U2", now=T0
    )
    later = book.add(
        channel_id="C1",
        kind="workflows",
        name="etl",
        triggers=("failed",),
        created_by="U1",
        now=T0 + timedelta(1),
    )

    assert shop.id == "sub-000001" and shop.source == SUBSCRIPTION_FROM_COMMAND
    assert book.get("sub-000001") == shop
    assert (shop.project, shop.cluster, shop.triggers) == ("shop", "prod-eu", ("sync-started", "sync-failed"))
    assert [s.id for s in book.for_channel("C1")] == ["config-1", shop.id, later.id]
    assert book.get("config-1") == CONFIGURED

    assert book.remove(shop.id) is True
    assert book.remove(shop.id) is False
    assert book.remove("config-1") is False  # the file's are never deleted here
    assert [s.id for s in book.for_channel("C1")] == ["config-1", later.id]


def test_a_taken_id_is_drawn_again(database: Database) -> None:
    book = SubscriptionBook(
        database, configured=[CONFIGURED], new_id=_ids("config-1", "sub-a", "sub-a", "sub-b")
    )
    first = book.add(
        channel_id="C1", kind="apps", name="a", triggers=("sync-failed",), created_by="U1", now=T0
    )
    second = book.add(
        channel_id="C1", kind="apps", name="b", triggers=("sync-failed",), created_by="U1", now=T0
    )
    assert (first.id, second.id) == ("sub-a", "sub-b")

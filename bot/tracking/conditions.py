"""Health episodes, flapping and lasting OutOfSync, told to the channels subscribed to an app.

The leader's Applications watch (the one stream per Argo CD host that also follows syncs)
hands every Application here. For each channel with a subscription that covers the app and
asks for `health-degraded`, `health-recovered` or `out-of-sync`, the app's stored condition
goes through `bot.conditions.observe`; the new condition and the messages it decided on are
stored in one transaction (`ConditionRepo.save`) under keys derived from the channel, the
app and when the episode began, so a restart, SIGKILL or a new leader never tells twice.
`tick()` runs every few seconds on the leader and looks again at the apps it has seen, so a
debounce ends without waiting for the next event.

Before anything is posted, the subscription's creator is judged by the pipeline's own checks
(the `Audience`: admitted as they are now, `applications, get` on the precise app), as for a
sync thread; the decision is audited there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import conditions, subscribing
from bot.announcing import PRIORITY_FAILURE, PRIORITY_NORMAL, edit_key
from bot.applications import as_mapping, as_text
from bot.argo import cd
from bot.conditions import Condition, Notice, Rules, Seen
from bot.errors import BotError
from bot.rbac import policy as rbac
from bot.records import OUTBOX_POST, OUTBOX_UPDATE, SUBSCRIPTION_APPS, OutboxEntry, Subscription
from bot.render import conditions as render
from bot.tracking.subscribed import Audience, SubscriptionSource

log = logging.getLogger(__name__)

AppKey = tuple[str, str, str]  # (host cluster, namespace, app)
_OPERATING = ("Running", "Terminating")


class ConditionStore(Protocol):
    """`bot.store.conditions.ConditionRepo` fits."""

    def get(self, channel_id: str, app_key: str) -> Condition: ...

    def save(
        self,
        channel_id: str,
        app_key: str,
        condition: Condition,
        *,
        messages: Sequence[OutboxEntry] = ...,
        now: datetime,
    ) -> None: ...


@dataclass(frozen=True)
class _Look:
    """One Application as last seen, with what the messages show of it."""

    seen_health: str
    seen_sync: str
    operating: bool
    facts: render.AppFacts
    cluster: str | None


class AppConditionWatch:
    """Tells subscribed channels about health episodes and lasting drift (see the module docstring).

    Args:
        subscriptions: every subscription (stored and config).
        store: the conditions, and the outbox in the same transaction.
        audience: whether a subscription's creator may see an app now.
        destinations: host cluster -> {Argo CD destination -> the bot's cluster name}.
        ui_urls: host cluster -> the Argo CD UI's base URL.
        rules: how long to wait before telling.
        clock: the current UTC time.
    """

    def __init__(
        self,
        *,
        subscriptions: SubscriptionSource,
        store: ConditionStore,
        audience: Audience,
        destinations: Callable[[str], Mapping[str, str]],
        ui_urls: Mapping[str, str | None] | None = None,
        rules: Rules | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._subscriptions = subscriptions
        self._store = store
        self._audience = audience
        self._destinations = destinations
        self._ui_urls = dict(ui_urls or {})
        self.rules = rules or Rules()
        self._clock = clock
        self._lock = threading.Lock()
        self._looks: dict[AppKey, _Look] = {}
        self._known: dict[tuple[str, str], Condition] = {}

    @property
    def tick_every(self) -> float:
        """Seconds between looks: a quarter of the shortest wait, between 1 s and 15 s."""
        shortest = min(self.rules.out_of_sync_after, self.rules.settle_after).total_seconds()
        return max(1.0, min(15.0, shortest / 4))

    def reset(self) -> None:
        """Forget what this process remembers (a new leader reads the stored conditions again)."""
        with self._lock:
            self._looks.clear()
            self._known.clear()

    def on_application(self, host_cluster: str, obj: Mapping[str, Any]) -> None:
        """An Application as the watch shows it (added, modified, or listed again)."""
        meta = as_mapping(obj.get("metadata"))
        key: AppKey = (host_cluster, as_text(meta.get("namespace")), as_text(meta.get("name")))
        look = self._look(host_cluster, obj)
        with self._lock:
            self._looks[key] = look
            self._judge(key, look)

    def on_deleted(self, host_cluster: str, obj: Mapping[str, Any]) -> None:
        """A deleted Application is no longer looked at (nothing is told about it)."""
        meta = as_mapping(obj.get("metadata"))
        with self._lock:
            self._looks.pop((host_cluster, as_text(meta.get("namespace")), as_text(meta.get("name"))), None)

    def tick(self) -> None:
        """Look again at every app seen, at the current time (debounces end without an event)."""
        with self._lock:
            for key, look in list(self._looks.items()):
                self._judge(key, look)

    # -- pieces ----------------------------------------------------------------------------

    def _judge(self, key: AppKey, look: _Look) -> None:
        wanted = self._channels(look)
        if not wanted:
            return
        now = self._clock()
        seen = Seen(health=look.seen_health, sync=look.seen_sync, operating=look.operating, at=now)
        app_key = "/".join(key)
        for channel_id, subscriptions in wanted.items():
            triggers = {t for s in subscriptions for t in s.triggers}
            old = self._condition(channel_id, app_key)
            new, notices = conditions.observe(old, seen, triggers=triggers, rules=self.rules)
            if new == old:
                continue
            messages = [
                m
                for notice in notices
                for m in self._messages(notice, channel_id, app_key, look, subscriptions)
            ]
            try:
                self._store.save(channel_id, app_key, new, messages=messages, now=now)
            except BotError as exc:
                log.warning("could not store the condition of %s for %s: %s", app_key, channel_id, exc)
                self._known.pop((channel_id, app_key), None)
                continue
            self._known[(channel_id, app_key)] = new

    def _condition(self, channel_id: str, app_key: str) -> Condition:
        known = self._known.get((channel_id, app_key))
        if known is None:
            known = self._store.get(channel_id, app_key)
            self._known[(channel_id, app_key)] = known
        return known

    def _channels(self, look: _Look) -> dict[str, list[Subscription]]:
        """Per channel, its subscriptions that cover this app and ask about its condition."""
        found: dict[str, list[Subscription]] = {}
        for subscription in self._subscriptions.all():
            if subscription.kind != SUBSCRIPTION_APPS:
                continue
            if not any(t in conditions.TRIGGERS for t in subscription.triggers):
                continue
            if subscribing.about_app(
                subscription, name=look.facts.name, project=look.facts.project, cluster=look.cluster
            ):
                found.setdefault(subscription.channel_id, []).append(subscription)
        return found

    def _messages(
        self,
        notice: Notice,
        channel_id: str,
        app_key: str,
        look: _Look,
        subscriptions: Sequence[Subscription],
    ) -> list[OutboxEntry]:
        subscription = _asking(subscriptions, notice)
        obj = rbac.application_object(
            cluster=look.cluster or rbac.WILDCARD, project=look.facts.project, app=look.facts.name
        )
        if not self._audience.may_see(
            subscription, resource=rbac.APPLICATIONS, obj=obj, cluster=look.cluster, what=notice.kind
        ):
            return []
        facts = replace(look.facts, subscription_id=subscription.id)
        text, blocks = render.render_notice(notice, facts)
        key = conditions.message_key(notice, channel_id=channel_id, app_key=app_key)
        thread = conditions.thread_of(notice, channel_id=channel_id, app_key=app_key)
        urgent = notice.kind in (conditions.NOTICE_DEGRADED, conditions.NOTICE_FLAPPING)
        out = [
            OutboxEntry(
                key=key,
                method=OUTBOX_POST,
                channel_id=channel_id,
                text=text,
                blocks=blocks,
                thread_key=thread,
                priority=PRIORITY_FAILURE if urgent else PRIORITY_NORMAL,
            )
        ]
        if thread is not None:
            ended_text, ended_blocks = render.render_episode_ended(notice, facts)
            out.append(
                OutboxEntry(
                    key=edit_key(thread),
                    method=OUTBOX_UPDATE,
                    channel_id=channel_id,
                    text=ended_text,
                    blocks=ended_blocks,
                    target_key=thread,
                    priority=PRIORITY_NORMAL,
                )
            )
        return out

    def _look(self, host_cluster: str, obj: Mapping[str, Any]) -> _Look:
        meta = as_mapping(obj.get("metadata"))
        spec = as_mapping(obj.get("spec"))
        status = as_mapping(obj.get("status"))
        name, namespace = as_text(meta.get("name")), as_text(meta.get("namespace"))
        project = as_text(spec.get("project")) or "default"
        destination = as_mapping(spec.get("destination"))
        shown = as_text(destination.get("name")) or as_text(destination.get("server"))
        cluster = cd.destination_cluster(shown, cluster_name_of_destination=self._destinations(host_cluster))
        state = as_mapping(status.get("operationState"))
        operating = isinstance(obj.get("operation"), Mapping) or as_text(state.get("phase")) in _OPERATING
        sync = as_mapping(status.get("sync"))
        base = self._ui_urls.get(host_cluster)
        facts = render.AppFacts(
            name=name,
            project=project,
            destination=cluster or shown or "unknown destination",
            sync=as_text(sync.get("status")),
            revision=as_text(sync.get("revision")),
            unhealthy=_unhealthy(status.get("resources")),
            ui_url=f"{base.rstrip('/')}/applications/{namespace}/{name}" if base else None,
        )
        return _Look(
            seen_health=as_text(as_mapping(status.get("health")).get("status")),
            seen_sync=facts.sync,
            operating=operating,
            facts=facts,
            cluster=cluster,
        )


def _asking(subscriptions: Sequence[Subscription], notice: Notice) -> Subscription:
    """The subscription a notice is posted for (the first that asked for its trigger)."""
    trigger = {
        conditions.NOTICE_DEGRADED: conditions.HEALTH_DEGRADED,
        conditions.NOTICE_RECOVERED: conditions.HEALTH_RECOVERED,
        conditions.NOTICE_OUT_OF_SYNC: conditions.OUT_OF_SYNC,
        conditions.NOTICE_IN_SYNC: conditions.OUT_OF_SYNC,
    }.get(notice.kind)
    for subscription in subscriptions:
        if trigger is None and any(
            t in subscription.triggers for t in (conditions.HEALTH_DEGRADED, conditions.HEALTH_RECOVERED)
        ):
            return subscription
        if trigger in subscription.triggers:
            return subscription
    return subscriptions[0]


def _unhealthy(resources: object) -> tuple[render.UnhealthyResource, ...]:
    """The resources whose health is neither Healthy nor unknown, from `status.resources[]`."""
    found = []
    for raw in resources if isinstance(resources, list) else []:
        item = as_mapping(raw)
        health = as_mapping(item.get("health"))
        status = as_text(health.get("status"))
        if status in ("", "Healthy"):
            continue
        found.append(
            render.UnhealthyResource(
                kind=as_text(item.get("kind")),
                name=as_text(item.get("name")),
                namespace=as_text(item.get("namespace")),
                health=status,
                message=as_text(health.get("message")),
            )
        )
    degraded_first = sorted(found, key=lambda r: r.health != conditions.DEGRADED)
    return tuple(degraded_first)

"""Composition root: build every object the running bot needs and connect them. No logic.

`build_bot(settings)` returns a `Bot` whose `start()` connects Socket Mode (and the health
server) and whose `stop()` closes the socket, lets in-flight commands finish and releases the
database. The websocket_client Socket Mode adapter is used on purpose: bolt's built-in one
noticed an abrupt socket close only after about a minute while spinning a core, and acked
late after a server `disconnect`; `bot.slack.socket` bounds its read timeout.
"""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from slack_bolt import App

from bot.actions.admission import RateLimiter
from bot.actions.context import Deps, Workspace
from bot.actions.housekeeping import Housekeeping
from bot.actions.launcher import Launcher
from bot.actions.scheduled import ScheduledRuns
from bot.actions.step_approvals import StepApprovalCards
from bot.actions.subscribers import SubscriberAudience
from bot.actions.sweeps import ApprovalCompletion
from bot.approvals.service import ApprovalService
from bot.approvals.sweeper import ExpirySweeper
from bot.argo.diff import ArgoCdApi
from bot.argo.live_waves import LiveWaves
from bot.clusters.registry import ClusterRegistry
from bot.commands.app_verbs import destinations_for
from bot.commands.verbs import build_registry
from bot.conditions import rules_from
from bot.config import Settings
from bot.errors import ConfigError
from bot.health import HealthServer
from bot.leadership import LeaderElector
from bot.logs.archive import LogArchive
from bot.periodic import Periodic
from bot.rbac.source import PolicySource
from bot.schedules.jobs import ScheduleService
from bot.schedules.sources import BotReportSources
from bot.slack import listeners
from bot.slack.ack_process import AckProcess
from bot.slack.client import Messenger, build_web_client, identify
from bot.slack.directory import SlackDirectory
from bot.slack.outbox import Outbox, OutboxDeliverer
from bot.slack.pacing import PacedSender
from bot.slack.socket import SocketModeHandler
from bot.slack.worker import CommandWorker
from bot.store import db as store_db
from bot.store.conditions import ConditionRepo
from bot.store.grouping import GroupedAuditLog
from bot.store.repos import ApprovalRepo, AuditRepo, EventDedup, OutboxRepo, RunRepo, ScheduleRepo
from bot.store.subscriptions import SubscriptionBook
from bot.subscribing import from_settings as configured_subscriptions
from bot.tracking.conditions import AppConditionWatch
from bot.tracking.follower import Follower, SyncPart, WorkflowPart
from bot.tracking.following import Following
from bot.tracking.pins import PinReminders
from bot.tracking.progress import log_scope
from bot.tracking.rollout_part import RolloutPart
from bot.tracking.streams import LeaderStreams
from bot.tracking.subscribed import SubscribedSyncs, SubscribedWorkflows

log = logging.getLogger(__name__)


def _drop_token_skipped_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("As you gave `client` as well")


class SocketConnection(Protocol):
    """Holds the Socket Mode connection: `AckProcess` (default) or the in-process handler."""

    def connect(self) -> None: ...
    def close(self) -> None: ...
    def is_connected(self) -> bool: ...


@dataclass
class Bot:
    app: App
    socket: SocketConnection
    worker: CommandWorker
    database: store_db.Database
    health: HealthServer | None
    team_id: str
    bot_user_id: str
    registry: ClusterRegistry
    sender: PacedSender
    following: Following
    elector: LeaderElector | None
    schedules: ScheduleService
    deps: Deps

    def start(self) -> None:
        if self.health is not None:
            self.health.start()
        self.socket.connect()
        log.info("connected to Slack in Socket Mode as %s in %s", self.bot_user_id, self.team_id)
        if self.elector is not None:
            self.elector.start()  # the streams start when this replica becomes the leader
        else:
            self.following.start()

    def is_connected(self) -> bool:
        return self.socket.is_connected()

    def stop(self) -> None:
        """Close the socket first so no new work arrives, then drain the work already accepted."""
        try:
            self.socket.close()
        finally:
            self.worker.shutdown()
            if self.elector is not None:
                self.elector.stop()  # releases the Lease so another replica takes over at once
            self.following.stop()
            self.sender.close()
            if self.health is not None:
                self.health.stop()
            self.registry.close()
            self.database.dispose()


def _build_elector(
    settings: Settings, *, registry: ClusterRegistry, following: Following
) -> LeaderElector | None:
    election = settings.leader_election
    if not election.enabled or election.cluster is None:
        return None
    if election.namespace is None:
        raise ConfigError(
            [
                f"{settings.source_path or 'config'}: leader_election.namespace is not set and POD_NAMESPACE "
                "is empty: set one of them to the namespace the bot runs in"
            ]
        )
    identity = election.identity or f"{socket.gethostname()}-{secrets.token_hex(3)}"
    return LeaderElector(
        registry.api_client(election.cluster),
        namespace=election.namespace,
        name=election.lease_name,
        identity=identity,
        lease_seconds=election.lease_seconds,
        renew_seconds=election.renew_seconds,
        on_started_leading=following.start,
        on_stopped_leading=following.stop,
    )


def _token_problem(value: Any, *, env: str, prefix: str) -> str | None:
    """What is wrong with one Slack token (never the token itself), or None."""
    if value is None:
        return f"{env} is not set: export the Slack token in the environment (never in the file)"
    if not str(value.get_secret_value()).startswith(prefix):
        return f"{env} does not look like a Slack token of the right kind (expected {prefix}...)"
    return None


def _tokens(settings: Settings) -> tuple[str, str]:
    """Both Slack tokens; every problem with them is named at once."""
    slack = settings.slack
    problems = [
        problem
        for problem in (
            _token_problem(slack.bot_token, env="SLACK_BOT_TOKEN", prefix="xoxb-"),
            _token_problem(slack.app_token, env="SLACK_APP_TOKEN", prefix="xapp-"),
        )
        if problem
    ]
    if problems or slack.bot_token is None or slack.app_token is None:
        raise ConfigError(problems)
    return str(slack.bot_token.get_secret_value()), str(slack.app_token.get_secret_value())


def _argocd_api(settings: Settings) -> ArgoCdApi | None:
    """Argo CD's API server for the cards' manifest diff, when configured (else None)."""
    argocd = settings.argocd
    if not argocd.server_url or argocd.auth_token is None:
        return None
    return ArgoCdApi(argocd.server_url, argocd.auth_token.get_secret_value(), timeout=argocd.timeout_seconds)


def build_bot(settings: Settings, *, migrate: bool = True) -> Bot:
    """Construct the whole bot; raises `ConfigError` for anything that stops it from starting."""
    bot_token, app_token = _tokens(settings)
    client = build_web_client(token=bot_token, base_url=settings.slack.api_url)

    database = store_db.connect(settings.database.url, echo=settings.database.echo)
    if migrate:
        store_db.upgrade_database(database)
    policy = PolicySource.from_settings(settings)

    # App() calls auth.test itself; we call it once more to learn and check the workspace.
    # One auth.test, ours: it names an unreachable Slack in one line (bolt's own is switched off).
    identity = identify(client, base_url=settings.slack.api_url)
    # bolt also reads SLACK_BOT_TOKEN and warns at every start that the client's token wins
    logging.getLogger("slack_bolt.App").addFilter(_drop_token_skipped_warning)
    app = App(client=client, process_before_response=True, token_verification_enabled=False)
    team_id = str(identity.get("team_id", ""))
    bot_user_id = str(identity.get("user_id", ""))
    if settings.slack.team_id and settings.slack.team_id != team_id:
        raise ConfigError(
            [
                f"{settings.source_path or 'config'}: slack.team_id is {settings.slack.team_id} "
                f"but SLACK_BOT_TOKEN belongs to workspace {team_id}"
            ]
        )

    base_dir = Path(settings.source_path).parent if settings.source_path else None
    registry = ClusterRegistry(settings.clusters, base_dir=base_dir)
    for name in registry.names():
        registry.api_client(name)  # a missing token variable or kubeconfig stops the start, not a command
    links = LogArchive(settings.logs) if settings.logs is not None else None
    runs = RunRepo(database)
    messenger = Messenger(client)
    sender = PacedSender(messenger)
    outbox_repo = OutboxRepo(database)
    outbox = Outbox(outbox_repo)
    directory = SlackDirectory(client, ttl=settings.slack.user_cache_ttl_seconds)
    subscriptions = SubscriptionBook(database, configured=configured_subscriptions(settings.subscriptions))
    audience = SubscriberAudience(directory=directory)
    hosts = {cluster.name: cluster for cluster in settings.clusters}
    approvals = ApprovalService(repo=ApprovalRepo(database), settings=settings.approvals)
    follower = Follower(
        step_approvals=StepApprovalCards(approvals=approvals, cards=outbox),
        runs=runs,
        outbox=outbox,
        outside=SubscribedSyncs(
            subscriptions=subscriptions,
            runs=runs,
            people=directory,
            audience=audience,
            destinations=lambda host: destinations_for(hosts[host], settings, registry),
        ),
        outside_workflows=SubscribedWorkflows(subscriptions=subscriptions, runs=runs, audience=audience),
        parts=[
            WorkflowPart(
                links=links,
                ui_urls={c.name: c.argo_ui_url for c in settings.clusters},
                tail_lines=settings.logs.tail_lines if settings.logs is not None else 30,
                log_scope=log_scope(settings.logs),
            ),
            SyncPart(ui_urls={c.name: c.argocd_ui_url for c in settings.clusters}, waves=LiveWaves(registry)),
            RolloutPart(),
        ],
    )
    scheduled_runs = ScheduledRuns(directory=directory)
    schedules = ScheduleService(
        database_url=settings.database.url,
        settings_schedules=settings.schedules,
        schedule_repo=ScheduleRepo(database),
        sender=sender,
        sources=BotReportSources(
            runs=runs,
            approvals=ApprovalRepo(database),
            clusters=registry,
            cluster_specs=list(registry),
            links=links,
        ),
        runner=scheduled_runs,
    )
    dedup = EventDedup(database)
    deps = Deps(
        settings=settings,
        policy=policy,
        audit=GroupedAuditLog(AuditRepo(database)),
        registry=build_registry(),
        directory=directory,
        clusters=registry,
        runs=runs,
        launcher=Launcher(runs=runs, follower=follower),
        links=links,
        schedules=schedules,
        subscriptions=subscriptions,
        approvals=approvals,
        cards=outbox,
        diffs=_argocd_api(settings),
        limiter=RateLimiter(settings.slack.commands_per_minute),
        workspace=Workspace(team_id=team_id, enterprise_id=str(identity.get("enterprise_id") or "") or None),
    )
    scheduled_runs.bind(deps)
    audience.bind(deps)
    completion = ApprovalCompletion(deps=deps, directory=directory)
    pins = PinReminders(
        hosts=settings.clusters,
        api_client=registry.api_client,
        announcer=outbox,
        slash=settings.slack.command,
        every=timedelta(hours=settings.approvals.pin_reminder_hours),
    )
    following = Following(
        LeaderStreams(
            follower=follower,
            clusters=settings.clusters,
            api_client=registry.api_client,
            deliverer=lambda: OutboxDeliverer(
                repo=outbox_repo, sender=sender, finder=messenger, signal=outbox.signal
            ),
            conditions=AppConditionWatch(
                subscriptions=subscriptions,
                store=ConditionRepo(database),
                audience=audience,
                destinations=lambda host: destinations_for(hosts[host], settings, registry),
                ui_urls={c.name: c.argocd_ui_url for c in settings.clusters},
                rules=rules_from(settings.debounce),
            ),
            extra=lambda: [
                schedules,
                ExpirySweeper(approvals, outbox, completer=completion),
                Housekeeping(dedup, outbox_repo),
                Periodic(pins.round, interval=pins.interval, name="pin-reminders"),
            ],
        )
    )
    elector = _build_elector(settings, registry=registry, following=following)
    worker = CommandWorker(
        deps=deps,
        directory=directory,
        dedup=dedup,
        messenger=messenger,
        queue_limit=settings.slack.queue_limit,
    )
    listeners.register(app, command=settings.slack.command, sink=worker, bot_user_id=bot_user_id)
    socket: SocketConnection
    if settings.slack.acker == "process":
        socket = AckProcess(
            app,
            app_token=app_token,
            api_url=settings.slack.api_url,
            log_level=logging.getLevelName(logging.getLogger("bot").getEffectiveLevel()),
        )
    else:
        socket = SocketModeHandler(app, app_token=app_token, web_client=client)
    bot = Bot(
        app=app,
        socket=socket,
        worker=worker,
        database=database,
        health=None,
        team_id=team_id,
        bot_user_id=bot_user_id,
        registry=registry,
        sender=sender,
        following=following,
        elector=elector,
        schedules=schedules,
        deps=deps,
    )
    if settings.server.port:
        bot.health = HealthServer(
            host=settings.server.host,
            port=settings.server.port,
            checks={
                "slack": bot.is_connected,
                "database": lambda: store_db.current_revision(database) is not None,
            },
        )
    return bot

"""Where scheduled posts get their data: `BotReportSources`, the bot's `ReportSources`.

It answers the schedule service's questions from the run and approval store and from the
clusters: recent workflow runs, approvals still waiting, the Argo CD applications of every
cluster that runs Argo CD. (Schedules of kind `run` are carried out by the action pipeline on
behalf of their owner, see `bot.actions.scheduled`.)

Every dependency is passed in as a small Protocol, so the composition root gives it the real
`RunRepo`, `ApprovalRepo`, `ClusterRegistry` and `LogArchive`, and tests give it
sandbox-backed ones. Leaves out the report text (`reports`). Called by `ScheduleService`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import records
from bot.argo import cd, workflows
from bot.errors import KubeNotFound, UpstreamError
from bot.schedules import reports
from bot.tracking import progress

log = logging.getLogger(__name__)

#: The most runs one digest reads (the store's own cap per query).
DIGEST_MAX_RUNS = 500
FAILED_PHASES = frozenset({progress.PHASE_FAILED, progress.PHASE_ERROR})


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClusterInfo(Protocol):
    """What is needed of a configured cluster (`ClusterSpec` and `ClusterSettings` fit)."""

    @property
    def name(self) -> str: ...

    @property
    def workflows_namespace(self) -> str: ...

    @property
    def argocd_namespace(self) -> str | None: ...

    @property
    def server_urls(self) -> tuple[str, ...]: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...


class Clusters(Protocol):
    """One API client per cluster, and its API server URL (`ClusterRegistry` fits)."""

    def api_client(self, name: str) -> Any: ...

    def api_url(self, name: str) -> str | None: ...


class RunStore(Protocol):
    """The run rows (`RunRepo` fits), read back for digests."""

    def recent(
        self,
        *,
        requester_id: str | None = None,
        template: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 20,
    ) -> list[records.Run]: ...


class ApprovalStore(Protocol):
    """The approval rows (`ApprovalRepo` fits)."""

    def pending(self, *, now: datetime | None = None) -> list[records.Approval]: ...


class LogLinks(Protocol):
    """Presigned links to archived logs (`LogArchive` fits)."""

    def presign_get(self, key: str, *, expires: int | None = None) -> str: ...


class BotReportSources:
    """`ReportSources` over the store, the clusters, the tracker and the log archive.

    Args:
        runs: the run store (`RunRepo`).
        approvals: the approval store (`ApprovalRepo`).
        clusters: API clients by cluster name (`ClusterRegistry`).
        cluster_specs: the configured clusters, in configuration order (`list(registry)`).
        links: presigns log links for the digest; None when logs are not archived.
        cluster_name_of_destination: more Argo CD destinations (name or server URL) -> the
            bot's cluster name, on top of what `cd.destination_map` knows of the clusters
            (names, aliases, API URLs, server_urls); an app whose destination maps to none is
            reported under "unmapped destination <name or URL>".
        clock: the current UTC time (injected by tests).
    """

    def __init__(
        self,
        *,
        runs: RunStore,
        approvals: ApprovalStore,
        clusters: Clusters,
        cluster_specs: Iterable[ClusterInfo],
        links: LogLinks | None = None,
        cluster_name_of_destination: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._runs = runs
        self._approvals = approvals
        self._clusters = clusters
        self._specs = {spec.name: spec for spec in cluster_specs}
        self._links = links
        self._destinations = dict(cluster_name_of_destination or {})
        self._clock = clock

    # -- reports ---------------------------------------------------------------------------

    def recent_runs(self, since: datetime) -> Sequence[records.Run]:
        """Workflow runs created at or after `since`, newest first (at most `DIGEST_MAX_RUNS`)."""
        return self._runs.recent(kind=records.RUN_WORKFLOW, since=since, limit=DIGEST_MAX_RUNS)

    def pending_approvals(self, now: datetime) -> Sequence[records.Approval]:
        """Requests still waiting that have not expired by `now`."""
        return self._approvals.pending(now=now)

    def app_health(self, cluster: str | None) -> Sequence[reports.AppSummary]:
        """Every application of every Argo CD, with `cluster` set to the bot's name for its destination.

        Args:
            cluster: keep only applications that deploy to this cluster (None: all of them).

        Raises:
            KubeError: an Argo CD's cluster could not be read (the report is not half-built).
        """
        found: list[reports.AppSummary] = []
        for spec in self._specs.values():
            if spec.argocd_namespace is None:
                continue
            api = self._clusters.api_client(spec.name)
            mapping = self._mapping(spec.name)
            for app in cd.list_apps(api, namespace=spec.argocd_namespace):
                destination = self._destination_of(app, mapping)
                if cluster is None or destination == cluster:
                    found.append(
                        reports.AppStatus(
                            name=app.name,
                            project=app.project,
                            cluster=destination,
                            sync_status=app.sync_status,
                            health_status=app.health_status,
                        )
                    )
        return found

    def log_link(self, run: records.Run) -> str | None:
        """A presigned link to the log of the step that failed first, for failed workflow runs.

        Runs that did not fail are not looked up at all (a digest can hold hundreds). A
        workflow that is gone from the cluster, or a cluster or archive that does not answer,
        gives no link rather than no digest.
        """
        if self._links is None or run.kind != records.RUN_WORKFLOW or run.phase not in FAILED_PHASES:
            return None
        if not run.name:
            return None
        try:
            api = self._clusters.api_client(run.cluster)
            workflow = workflows.get_workflow(api, namespace=run.namespace, name=run.name)
            step = progress.first_failed_step(progress.workflow_state(workflow))
            if step is None or not step.log_key:
                return None
            return self._links.presign_get(step.log_key)
        except KubeNotFound:
            return None
        except (UpstreamError, KeyError) as exc:
            log.warning("no log link for run %s (%s/%s): %s", run.id, run.cluster, run.name, exc)
            return None

    # -- pieces ----------------------------------------------------------------------------

    def _mapping(self, host: str) -> dict[str, str]:
        """Destination -> cluster name for the apps of the Argo CD on `host` (`cd.destination_map`)."""
        known = [
            cd.KnownCluster(
                name=spec.name,
                api_url=self._clusters.api_url(spec.name),
                server_urls=spec.server_urls,
                aliases=spec.aliases,
            )
            for spec in self._specs.values()
        ]
        explicit = {
            cd.normalise_server(key) if cd.is_server_url(key) else key: value
            for key, value in self._destinations.items()
        }
        return {**cd.destination_map(host=host, clusters=known), **explicit}

    @staticmethod
    def _destination_of(app: cd.AppSummary, mapping: Mapping[str, str]) -> str:
        """The bot's cluster name for an app's destination, or "unmapped destination <it>"."""
        cluster = cd.destination_cluster(app.cluster, cluster_name_of_destination=mapping)
        return cluster if cluster is not None else f"unmapped destination {app.cluster}"

"""Sample Argo objects for the demo world: WorkflowTemplates and Argo CD Applications with history.

Templates (namespace `argo`, on every cluster; durations in scripted seconds, so at time
scale 1.0 in real seconds), each with a `workflows.argoproj.io/description`:
- `hello`: two step groups (one with two parallel steps), succeeds in about 11 s;
- `db-migration`: parameter `database` (enum orders|customers|inventory); fails in its
  second step `migrate` after about 20 s, a foreign-key error at the end of its log (exit 1);
- `deploy-report`: parameters `env` (enum dev|staging|prod) and `days` (default 7), a DAG, ~24 s;
- `nightly-report`: `date`, `format` (enum pdf|csv|html); extract, three parallel
  aggregations, render, publish; ~30 s;
- `orders-backfill`: `since`, `batch-size`; snapshot, two groups of four parallel shards,
  rebuild-index, verify: 11 steps, about two minutes (long enough to watch and stop);
- `release`: `service` (enum shop|cart|checkout|payments-api), `version`; build, unit tests
  and image scan, then `approve`, a suspend step that waits for `argo resume` (or a stop),
  then deploy and smoke test.
Applications (namespace `argocd` of the Argo CD cluster): `demo_applications` is the demo
catalogue, ten per cluster in projects shop, payments and platform, some OutOfSync, one
Degraded, with history replayed by the controller (`seed_demo_applications`, fast).
`seed_applications` makes the small fixed pair the adapter tests use: for each cluster C,
`shop-C` (hooks and waves; two real syncs) and `billing-C` (one sync; `v2.*` fails), in
project default. Rollouts (`seed_demo_rollouts`, driven there by the sandbox's
`RolloutController`): `checkout-canary` (namespace `shop`, first cluster) paused at step 2 of 5
with weight 20, and `search-api` (namespace `search`, last cluster) Healthy at revision 2.
Created through the kubernetes client; existing objects are kept. Used by
`bot.sandbox.world.SandboxWorld.seed_demo` and tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo.applications import ApplicationController, PastSync
from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.waiting import wait_until

G, V = "argoproj.io", "v1alpha1"
DESCRIPTION = "workflows.argoproj.io/description"  # what the Argo UI (and the bot) show for a template


def _shell(*lines: str) -> dict[str, Any]:
    return {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["\n".join(lines)]}


def workflow_templates() -> list[dict[str, Any]]:
    """The demo WorkflowTemplates (magic container scripts decide their outcome and duration)."""
    hello = {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "greeting", "value": "hello"}]},
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "prepare", "template": "say"}],
                    [{"name": "greet", "template": "say"}, {"name": "count", "template": "count"}],
                ],
            },
            {
                "name": "say",
                "container": _shell(
                    "echo {{workflow.parameters.greeting}} from {{workflow.name}}", "sleep 5"
                ),
            },
            {"name": "count", "container": _shell("echo 1", "sleep 3", "echo 2", "sleep 3", "echo 3")},
        ],
    }
    migration = {
        "entrypoint": "main",
        "arguments": {
            "parameters": [
                {
                    "name": "database",
                    "value": "orders",
                    "enum": ["orders", "customers", "inventory"],
                    "description": "the database to migrate",
                }
            ]
        },
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "backup", "template": "backup"}],
                    [{"name": "migrate", "template": "migrate"}],
                    [{"name": "verify", "template": "backup"}],
                ],
            },
            {
                "name": "backup",
                "container": _shell("echo snapshot of {{workflow.parameters.database}} taken", "sleep 10"),
            },
            {
                "name": "migrate",
                "container": _shell(
                    "echo connected to {{workflow.parameters.database}}",
                    "echo applying 0041_add_index",
                    "sleep 5",
                    "echo applying 0042_orders_customer_fk",
                    "sleep 5",
                    'echo ERROR: insert or update on table "orders" violates foreign key constraint',
                    "echo DETAIL: Key (customer_id)=(4242) is not present in table customers.",
                    "exit 1",
                ),
            },
        ],
    }
    report = {
        "entrypoint": "report",
        "arguments": {
            "parameters": [
                {"name": "env", "value": "dev", "enum": ["dev", "staging", "prod"], "description": "target"},
                {"name": "days", "value": "7"},
            ]
        },
        "templates": [
            {
                "name": "report",
                "dag": {
                    "tasks": [
                        {"name": "collect", "template": "step"},
                        {"name": "summarise", "template": "step", "dependencies": ["collect"]},
                        {"name": "charts", "template": "step", "dependencies": ["collect"]},
                        {"name": "publish", "template": "step", "dependencies": ["summarise", "charts"]},
                    ]
                },
            },
            {
                "name": "step",
                "container": _shell(
                    "echo {{workflow.parameters.env}}: last {{workflow.parameters.days}} days", "sleep 8"
                ),
            },
        ],
    }
    nightly = {
        "entrypoint": "main",
        "arguments": {
            "parameters": [
                {"name": "date", "value": "yesterday", "description": "the day to report on"},
                {"name": "format", "value": "pdf", "enum": ["pdf", "csv", "html"]},
            ]
        },
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "extract", "template": "extract"}],
                    [
                        {
                            "name": "sales",
                            "template": "aggregate",
                            "arguments": _args(topic="sales", seconds="12"),
                        },
                        {
                            "name": "traffic",
                            "template": "aggregate",
                            "arguments": _args(topic="traffic", seconds="9"),
                        },
                        {
                            "name": "refunds",
                            "template": "aggregate",
                            "arguments": _args(topic="refunds", seconds="6"),
                        },
                    ],
                    [{"name": "render", "template": "render"}],
                    [{"name": "publish", "template": "publish"}],
                ],
            },
            {
                "name": "extract",
                "container": _shell(
                    "echo extracting orders of {{workflow.parameters.date}}", "sleep 8", "echo 48213 rows"
                ),
            },
            {
                "name": "aggregate",
                "inputs": {"parameters": [{"name": "topic"}, {"name": "seconds"}]},
                "container": _shell(
                    "echo aggregating {{inputs.parameters.topic}}",
                    "sleep {{inputs.parameters.seconds}}",
                    "echo {{inputs.parameters.topic}} done",
                ),
            },
            {
                "name": "render",
                "container": _shell(
                    "echo rendering report-{{workflow.parameters.date}}.{{workflow.parameters.format}}",
                    "sleep 6",
                ),
            },
            {
                "name": "publish",
                "container": _shell(
                    "echo uploaded to s3://acme-reports/nightly/report-{{workflow.parameters.date}}"
                    ".{{workflow.parameters.format}}",
                    "sleep 3",
                ),
            },
        ],
    }
    shards = [
        [_shard(n, pace) for n, pace in group]
        for group in (((1, 9), (2, 10), (3, 8), (4, 10)), ((5, 10), (6, 9), (7, 10), (8, 8)))
    ]
    backfill = {
        "entrypoint": "main",
        "arguments": {
            "parameters": [
                {"name": "since", "value": "2025-01-01", "description": "first order date to backfill"},
                {"name": "batch-size", "value": "5000"},
            ]
        },
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "snapshot", "template": "snapshot"}],
                    shards[0],
                    shards[1],
                    [{"name": "rebuild-index", "template": "rebuild-index"}],
                    [{"name": "verify", "template": "verify"}],
                ],
            },
            {
                "name": "snapshot",
                "container": _shell("echo snapshot of orders started", "sleep 10", "echo snapshot ready"),
            },
            {
                "name": "backfill-shard",
                "inputs": {"parameters": [{"name": "shard"}, {"name": "pace"}]},
                "container": _shell(
                    "echo shard {{inputs.parameters.shard}}/8: orders since {{workflow.parameters.since}},"
                    " batches of {{workflow.parameters.batch-size}}",
                    "sleep {{inputs.parameters.pace}}",
                    "echo shard {{inputs.parameters.shard}}/8: 25%",
                    "sleep {{inputs.parameters.pace}}",
                    "echo shard {{inputs.parameters.shard}}/8: 50%",
                    "sleep {{inputs.parameters.pace}}",
                    "echo shard {{inputs.parameters.shard}}/8: 75%",
                    "sleep {{inputs.parameters.pace}}",
                    "echo shard {{inputs.parameters.shard}}/8: 125000 rows backfilled",
                ),
            },
            {
                "name": "rebuild-index",
                "container": _shell("echo rebuilding orders_by_customer", "sleep 15", "echo index rebuilt"),
            },
            {
                "name": "verify",
                "container": _shell(
                    "echo comparing row counts", "sleep 10", "echo 1000000 rows, checksums match"
                ),
            },
        ],
    }
    release = {
        "entrypoint": "main",
        # the bot posts an approval card in the run's thread when it waits at `approve`
        "workflowMetadata": {"annotations": {"argo-chatops/approval-steps": "approve"}},
        "arguments": {
            "parameters": [
                {"name": "service", "value": "shop", "enum": ["shop", "cart", "checkout", "payments-api"]},
                {"name": "version", "value": "v1.6.0", "description": "the tag to build and deploy"},
            ]
        },
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "build", "template": "build"}],
                    [
                        {"name": "unit-tests", "template": "unit-tests"},
                        {"name": "image-scan", "template": "image-scan"},
                    ],
                    [{"name": "approve", "template": "approve"}],
                    [{"name": "deploy", "template": "deploy"}],
                    [{"name": "smoke-test", "template": "smoke-test"}],
                ],
            },
            {
                "name": "build",
                "container": _shell(
                    "echo building {{workflow.parameters.service}}:{{workflow.parameters.version}}",
                    "sleep 15",
                    "echo pushed registry.example.com/{{workflow.parameters.service}}"
                    ":{{workflow.parameters.version}}",
                ),
            },
            {"name": "unit-tests", "container": _shell("echo 412 tests", "sleep 10", "echo 412 passed")},
            {
                "name": "image-scan",
                "container": _shell("echo scanning the image", "sleep 12", "echo 0 critical, 2 low"),
            },
            # waits for a person: `argo resume`, the Argo UI, or a stop
            {"name": "approve", "suspend": {}},
            {
                "name": "deploy",
                "container": _shell(
                    "echo deploying {{workflow.parameters.service}} {{workflow.parameters.version}}",
                    "sleep 10",
                ),
            },
            {
                "name": "smoke-test",
                "container": _shell("echo GET /healthz 200", "sleep 6", "echo smoke test passed"),
            },
        ],
    }
    return [
        {
            "apiVersion": f"{G}/{V}",
            "kind": "WorkflowTemplate",
            "metadata": {"name": name, "annotations": {DESCRIPTION: description}},
            "spec": spec,
        }
        for name, description, spec in (
            ("hello", "Says hello: two step groups, a few seconds", hello),
            ("db-migration", "Backs up a database and applies pending migrations", migration),
            ("deploy-report", "Deployments of the last days, as a DAG", report),
            ("nightly-report", "Yesterday's sales, traffic and refunds report", nightly),
            ("orders-backfill", "Backfills order history in eight shards (about two minutes)", backfill),
            ("release", "Builds, tests, waits for approval, then deploys a service", release),
        )
    ]


def _args(**values: str) -> dict[str, Any]:
    return {"parameters": [{"name": name, "value": value} for name, value in values.items()]}


def _shard(number: int, pace: int) -> dict[str, Any]:
    """One backfill step: four quarters of `pace` scripted seconds each."""
    return {
        "name": f"shard-{number}",
        "template": "backfill-shard",
        "arguments": _args(shard=str(number), pace=str(pace)),
    }


SHOP_RESOURCES = (
    AppResource(kind="Job", name="db-migrate", api_version="batch/v1", hook="PreSync"),
    AppResource(kind="ConfigMap", name="shop-config", wave=-1),
    AppResource(kind="Deployment", name="shop", api_version="apps/v1", progressing_seconds=5),
    AppResource(kind="Service", name="shop", wave=1),
    AppResource(kind="Job", name="smoke-test", api_version="batch/v1", hook="PostSync"),
)
BILLING_RESOURCES = (
    AppResource(kind="Deployment", name="billing", api_version="apps/v1"),
    AppResource(kind="Service", name="billing"),
)


def _application(name: str, *, destination: str, namespace: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/platform/deploy.git",
                "path": path,
                "targetRevision": "main",
            },
            "destination": {"name": destination, "namespace": namespace},
        },
    }


# -- the demo catalogue ------------------------------------------------------------------
DEPLOY_REPO = "https://git.example.com/acme/deploy.git"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
AUTOMATED = None  # an automated sync has no user
GATEKEEPER_DENIAL = (
    'admission webhook "validation.gatekeeper.sh" denied the request: '
    '[container-must-have-limits] container "api" has no memory limit'
)


@dataclass(frozen=True)
class DemoApp:
    """One Application of the demo catalogue, as created on the Argo CD cluster.

    `history` lists the syncs replayed into its status (oldest first); `target` is its
    `spec.source.targetRevision`: the last revision of `history` (Synced) or a newer one
    (OutOfSync until someone syncs it).
    """

    name: str
    cluster: str
    project: str
    namespace: str
    path: str
    target: str
    history: tuple[PastSync, ...]
    resources: tuple[AppResource, ...]
    fail_revisions: tuple[str, ...] = ()
    automated: bool = False

    def manifest(self, namespace: str = "argocd") -> dict[str, Any]:
        spec: dict[str, Any] = {
            "project": self.project,
            "source": {"repoURL": DEPLOY_REPO, "path": self.path, "targetRevision": self.target},
            "destination": {"name": self.cluster, "namespace": self.namespace},
        }
        if self.automated:
            spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": True}}
        return {
            "apiVersion": f"{G}/{V}",
            "kind": "Application",
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": spec,
        }


def demo_applications(clusters: tuple[str, ...], *, now: dt.datetime) -> list[DemoApp]:
    """The demo's Argo CD Applications: ten per cluster in projects shop, payments and platform.

    Every cluster C gets `shop-C`, `cart-C`, `catalog-C`, `checkout-C` (project shop),
    `billing-C`, `payments-api-C`, `ledger-C` (payments), `ingress-nginx-C`, `cert-manager-C`
    and `monitoring-C` (platform). The first cluster plays staging, the last production:
    on the first, `cart` and `payments-api` wait for a newer target (OutOfSync; the next
    revision of `payments-api` is scripted to fail at admission); on the last, `monitoring`
    waits for a new chart, `ledger` is Degraded, and `shop` has three deploys, the last one
    recent (a rollback story). `now` is the moment the history is measured back from.
    """

    def deploys(*entries: tuple[str, str | None, float]) -> tuple[PastSync, ...]:
        return tuple(
            PastSync(revision, finished_at=now - dt.timedelta(hours=hours_ago), initiated_by=who, seconds=75)
            for revision, who, hours_ago in entries
        )

    apps: list[DemoApp] = []
    for cluster in clusters:
        staging, production = cluster == clusters[0], cluster == clusters[-1]
        person = CAROL if production else BOB

        def app(base: str, project: str, namespace: str, *, on: str = cluster, **fields: Any) -> DemoApp:
            folder = "platform" if project == "platform" else "apps"
            return DemoApp(
                name=f"{base}-{on}",
                cluster=on,
                project=project,
                namespace=namespace,
                path=f"{folder}/{base}/overlays/{on}",
                **fields,
            )

        shop_history = (
            deploys(("v1.4.0", CAROL, 150), ("v1.4.1", CAROL, 50), ("v1.5.0", CAROL, 0.75))
            if production
            else deploys(("v1.4.0", BOB, 74), ("v1.5.0", BOB, 26))
        )
        apps += [
            app("shop", "shop", "shop", target="v1.5.0", history=shop_history, resources=SHOP_RESOURCES),
            app(
                "cart",
                "shop",
                "shop",
                target="v2.3.0" if staging else "v2.2.0",
                history=deploys(("v2.1.0", person, 120), ("v2.2.0", person, 30)),
                resources=(
                    AppResource(kind="Deployment", name="cart", api_version="apps/v1", progressing_seconds=3),
                    AppResource(kind="Service", name="cart"),
                ),
            ),
            app(
                "catalog",
                "shop",
                "shop",
                target="v1.0.0",
                history=deploys(("v0.9.3", person, 200), ("v0.9.4", person, 96), ("v1.0.0", ALICE, 20)),
                resources=(
                    AppResource(
                        kind="Deployment", name="catalog", api_version="apps/v1", progressing_seconds=4
                    ),
                    AppResource(kind="Service", name="catalog"),
                    AppResource(kind="HorizontalPodAutoscaler", name="catalog", api_version="autoscaling/v2"),
                ),
            ),
            app(
                "checkout",
                "shop",
                "shop",
                target="v3.5.0",
                history=deploys(("v3.4.0", person, 160), ("v3.5.0", person, 40)),
                resources=(
                    AppResource(
                        kind="Job", name="checkout-db-migrate", api_version="batch/v1", hook="PreSync"
                    ),
                    AppResource(
                        kind="Deployment", name="checkout", api_version="apps/v1", progressing_seconds=4
                    ),
                    AppResource(kind="Service", name="checkout"),
                ),
            ),
            app(
                "billing",
                "payments",
                "payments",
                target="v3.1.0",
                history=deploys(("v3.1.0", person, 100)),
                resources=BILLING_RESOURCES,
                fail_revisions=("v2.*",),
            ),
            app(
                "payments-api",
                "payments",
                "payments",
                target="v2.8.0" if staging else "v2.7.0",
                history=deploys(("v2.6.0", person, 140), ("v2.7.0", person, 45)),
                resources=(
                    AppResource(kind="ConfigMap", name="payments-api-config", wave=-1),
                    AppResource(
                        kind="Deployment",
                        name="payments-api",
                        api_version="apps/v1",
                        progressing_seconds=5,
                        revision_error=GATEKEEPER_DENIAL,
                    ),
                    AppResource(kind="Service", name="payments-api"),
                    AppResource(
                        kind="Ingress", name="payments-api", api_version="networking.k8s.io/v1", wave=1
                    ),
                ),
                fail_revisions=("v2.8.*",),
            ),
            app(
                "ledger",
                "payments",
                "payments",
                target="v1.3.0",
                history=deploys(("v1.2.0", person, 300), ("v1.3.0", person, 70)),
                resources=(
                    AppResource(
                        kind="StatefulSet",
                        name="ledger",
                        api_version="apps/v1",
                        health="Degraded" if production else "Healthy",
                    ),
                    AppResource(kind="Service", name="ledger"),
                ),
            ),
            app(
                "ingress-nginx",
                "platform",
                "ingress-nginx",
                target="v4.11.2",
                history=deploys(("v4.10.1", AUTOMATED, 500), ("v4.11.2", AUTOMATED, 90)),
                resources=(
                    AppResource(kind="ConfigMap", name="ingress-nginx-controller", wave=-1),
                    AppResource(kind="Deployment", name="ingress-nginx-controller", api_version="apps/v1"),
                    AppResource(kind="Service", name="ingress-nginx-controller"),
                ),
                automated=True,
            ),
            app(
                "cert-manager",
                "platform",
                "cert-manager",
                target="v1.15.1",
                history=deploys(("v1.14.4", AUTOMATED, 700), ("v1.15.1", AUTOMATED, 200)),
                resources=(
                    AppResource(
                        kind="CustomResourceDefinition",
                        name="certificates.cert-manager.io",
                        api_version="apiextensions.k8s.io/v1",
                        wave=-1,
                    ),
                    AppResource(kind="Deployment", name="cert-manager", api_version="apps/v1"),
                    AppResource(kind="Deployment", name="cert-manager-webhook", api_version="apps/v1"),
                    AppResource(kind="Service", name="cert-manager-webhook"),
                ),
                automated=True,
            ),
            app(
                "monitoring",
                "platform",
                "monitoring",
                target="v61.3.0" if production else "v58.7.2",
                history=deploys(("v58.2.0", ALICE, 400), ("v58.7.2", ALICE, 120)),
                resources=(
                    AppResource(kind="ConfigMap", name="grafana-dashboards", wave=-1),
                    AppResource(
                        kind="StatefulSet", name="prometheus", api_version="apps/v1", progressing_seconds=6
                    ),
                    AppResource(kind="Deployment", name="grafana", api_version="apps/v1"),
                ),
            ),
        ]
    return apps


def seed_templates(*, url: str, token: str, namespace: str = "argo") -> list[str]:
    """Create the demo WorkflowTemplates on one cluster; returns their names."""
    api_client = build_api_client(url=url, token=token)
    try:
        api = client.CustomObjectsApi(api_client)
        for template in workflow_templates():
            _create(
                lambda body=template: api.create_namespaced_custom_object(
                    G, V, namespace, "workflowtemplates", body
                )
            )
    finally:
        api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated
    return [t["metadata"]["name"] for t in workflow_templates()]


def seed_applications(
    *, url: str, token: str, clusters: tuple[str, ...], controller: ApplicationController, timeout: float = 60
) -> list[str]:
    """Create `shop-C` and `billing-C` per cluster and sync them for real (history); returns their names.

    One sync after the other, each awaited: quick only at a small time scale (tests).
    """
    api_client = build_api_client(url=url, token=token)
    names: list[str] = []
    try:
        api = client.CustomObjectsApi(api_client)
        for cluster in clusters:
            shop, billing = f"shop-{cluster}", f"billing-{cluster}"
            controller.script_app(shop, resources=SHOP_RESOURCES)
            controller.script_app(billing, resources=BILLING_RESOURCES, fail_revisions=("v2.*",))
            for name, path, revisions in (
                (shop, "apps/shop", ("v1.4.0", "v1.5.0")),
                (billing, "apps/billing", ("v3.1.0",)),
            ):
                app = _application(
                    name, destination=cluster, namespace=name.split("-")[0], path=f"{path}/{cluster}"
                )
                created = _create(
                    lambda body=app: api.create_namespaced_custom_object(G, V, "argocd", "applications", body)
                )
                names.append(name)
                if created:
                    for revision in revisions:
                        _sync_and_wait(api, name=name, revision=revision, timeout=timeout)
    finally:
        api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated
    return names


def seed_demo_applications(
    *,
    url: str,
    token: str,
    clusters: tuple[str, ...],
    controller: ApplicationController,
    namespace: str = "argocd",
    now: dt.datetime | None = None,
) -> list[str]:
    """Create the demo catalogue (`demo_applications`) with its history; returns the app names.

    Each new app gets its scripted resources, then its past syncs replayed by the controller
    (`ApplicationController.replay`: the sync code, run instantly, one status write), a few
    requests per app instead of a real sync per history entry (twenty apps take well under a
    second). Existing apps are kept as they are.
    """
    apps = demo_applications(clusters, now=now or dt.datetime.now(dt.UTC))
    api_client = build_api_client(url=url, token=token)
    try:
        api = client.CustomObjectsApi(api_client)

        for app in apps:
            controller.script_app(
                app.name, resources=app.resources, fail_revisions=app.fail_revisions, namespace=namespace
            )
            body = app.manifest(namespace)
            if _create(
                lambda body=body: api.create_namespaced_custom_object(G, V, namespace, "applications", body)
            ):
                controller.replay(app.name, app.history, namespace=namespace)
    finally:
        api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated
    return [app.name for app in apps]


def _sync_and_wait(api: client.CustomObjectsApi, *, name: str, revision: str, timeout: float) -> None:
    operation = {"sync": {"revision": revision}, "initiatedBy": {"username": "seed@example.com"}}
    api.patch_namespaced_custom_object(G, V, "argocd", "applications", name, {"operation": operation})

    def finished() -> bool:
        # The generated client types a custom object as `object`; it is the decoded JSON body.
        app = cast(dict[str, Any], api.get_namespaced_custom_object(G, V, "argocd", "applications", name))
        state = app.get("status", {}).get("operationState", {})
        return (
            state.get("operation") == operation
            and state.get("phase") != "Running"
            and not app.get("operation")
        )

    wait_until(finished, timeout=timeout, message=f"seed sync of {name} to {revision}")


def _create(call: Any) -> bool:
    """Run a create call; False when the object already exists (seeding is idempotent)."""
    try:
        call()
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise
    return True


def demo_rollout(name: str, *, image: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A Rollout with a canary strategy, in the shape `kubectl argo rollouts create` takes."""
    labels = {"app": name}
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Rollout",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
            "strategy": {"canary": {"steps": steps}},
        },
    }


#: The demo's canary: weight 20, wait for a person, 50 for 30 s, an analysis, then everything.
CHECKOUT_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "30s"}},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
]
SEARCH_STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {}},
    {"analysis": {"templates": [{"templateName": "error-rate"}]}},
]


def seed_demo_rollouts(
    *,
    clusters: dict[str, tuple[str, str]],
    namespaces: tuple[str, str] = ("shop", "search"),
    timeout: float = 60,
) -> list[str]:
    """Create the demo's two Rollouts and bring them to their state; returns `cluster/namespace/name` of each.

    `clusters` maps cluster names (in order) to `(api_url, token)`; a `RolloutController` must
    run on each. `checkout-canary` goes to the first cluster: revision 1 (promoted at once),
    then a new image, left paused at its `pause: {}` (step 2 of 5, weight 20). `search-api`
    goes to the last: revision 1, then revision 2 fully promoted (`status.promoteFull`, what
    `promote --full` writes), so `undo` has a revision to go back to. Existing ones are kept.
    """
    names = list(clusters)
    plans = (
        (
            names[0],
            namespaces[0],
            "checkout-canary",
            "checkout:1.8.0",
            "checkout:1.9.0",
            CHECKOUT_STEPS,
            False,
        ),
        (names[-1], namespaces[1], "search-api", "search:3.2.0", "search:3.3.0", SEARCH_STEPS, True),
    )
    seeded: list[str] = []
    for cluster, namespace, name, first, second, steps, promote in plans:
        url, token = clusters[cluster]
        api_client = build_api_client(url=url, token=token)
        try:
            api = client.CustomObjectsApi(api_client)
            body = demo_rollout(name, image=first, steps=steps)
            if _create(
                lambda body=body, api=api, ns=namespace: api.create_namespaced_custom_object(
                    G, V, ns, "rollouts", body
                )
            ):
                _wait_rollout(api, namespace, name, timeout, lambda s: s.get("phase") == "Healthy")
                template = {"spec": {"template": {"spec": {"containers": [{"name": name, "image": second}]}}}}
                api.patch_namespaced_custom_object(G, V, namespace, "rollouts", name, template)
                _wait_rollout(
                    api,
                    namespace,
                    name,
                    timeout,
                    lambda s: s.get("phase") == "Paused" and bool(s.get("stableRS")),
                )
                if promote:
                    api.patch_namespaced_custom_object_status(
                        G, V, namespace, "rollouts", name, {"status": {"promoteFull": True}}
                    )
                    _wait_rollout(api, namespace, name, timeout, lambda s: s.get("phase") == "Healthy")
        finally:
            api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated
        seeded.append(f"{cluster}/{namespace}/{name}")
    return seeded


def _wait_rollout(
    api: client.CustomObjectsApi, namespace: str, name: str, timeout: float, ready: Any
) -> None:
    def status() -> bool:
        # The generated client types a custom object as `object`; it is the decoded JSON body.
        rollout = cast(dict[str, Any], api.get_namespaced_custom_object(G, V, namespace, "rollouts", name))
        return bool(ready(rollout.get("status") or {}))

    wait_until(status, timeout=timeout, message=f"seeded rollout {namespace}/{name}")

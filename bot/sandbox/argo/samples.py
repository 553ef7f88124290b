"""Sample Argo objects for the demo world: WorkflowTemplates and Argo CD Applications with history.

Templates (namespace `argo`, on every cluster):
- `hello`: two step groups (one with two parallel steps), succeeds in a few scripted seconds;
- `db-migration`: fails in its second step with an error in its log (exit code 1);
- `deploy-report`: parameters `env` (enum dev|staging|prod) and `days` (default 7), a DAG.
Applications (namespace `argocd` of the Argo CD cluster), for each cluster C: `shop-C`
(hooks and waves; two syncs in its history) and `billing-C` (one sync; any revision
`v2.*` is scripted to fail). Created through the kubernetes client; existing objects are
kept. Used by `bot.sandbox.world.SandboxWorld.seed_demo`.
"""

from __future__ import annotations

from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo.applications import ApplicationController
from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.waiting import wait_until

G, V = "argoproj.io", "v1alpha1"


def _shell(*lines: str) -> dict[str, Any]:
    return {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["\n".join(lines)]}


def workflow_templates() -> list[dict[str, Any]]:
    """The demo WorkflowTemplates (magic container scripts decide their outcome)."""
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
        "arguments": {"parameters": [{"name": "database", "value": "orders"}]},
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
    return [
        {"apiVersion": f"{G}/{V}", "kind": "WorkflowTemplate", "metadata": {"name": name}, "spec": spec}
        for name, spec in (("hello", hello), ("db-migration", migration), ("deploy-report", report))
    ]


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
    """Create the demo Applications and sync them so they have history; returns their names."""
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

"""The whole test world in one object: AWS, Slack, one Kubernetes API per cluster, Argo controllers.

`SandboxWorld(state_dir).start()` brings up, all on 127.0.0.1 with free ports:
- moto (S3, STS, IAM, EKS) with a logs bucket for Argo's archived logs;
- the Slack stand-in;
- per cluster: a `KubeApiServer` that accepts a static admin token and EKS tokens for that
  cluster (verified against moto's STS), an EKS cluster record in its own AWS account whose
  endpoint is that server, an IAM role there that the bot assumes (mapped to the Kubernetes
  user `chatops-bot`), a workflow controller archiving logs to the bucket, and a Rollout
  controller (`RolloutController`);
- one application controller on the first cluster: a single Argo CD managing all clusters
  (Applications name their `destination.name`), deploying what it syncs to each (by its name,
  its `https_url`, and for the first also `in-cluster` / `https://kubernetes.default.svc`),
  and its API server stand-in (`ArgoCdApiServer`: the managed resources of an app, for the
  bot's manifest diff), whose URL and token are in `describe()["argocd_api"]`.
Each API server answers plain http (`api_url`) and TLS (`https_url`, CA in `ca_data` as
EKS returns it) on one port. It writes `state_dir/kubeconfig` (one https context per
cluster, with the CA) and `state_dir/world.json`
(= `describe()`). `seed_demo()` adds the demo world: people with roles, channels, user
groups, WorkflowTemplates on every cluster and about twenty Argo CD Applications with
history and two Argo Rollouts (see `bot.sandbox.argo.samples`), for any cluster names; `DEMO_CLUSTERS` are the
names `chatops demo` uses (the first plays staging, the last production).

Left out: TLS for Slack and AWS (plain http), persistence across restarts. Used by
`python -m bot.sandbox`, the `chatops demo` command and end-to-end tests.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.request
from pathlib import Path
from typing import Any, cast

from bot.sandbox.argo import (
    ApplicationController,
    ArtifactRepository,
    Destination,
    RolloutController,
    WorkflowController,
    samples,
)
from bot.sandbox.argo.api import ArgoCdApiServer
from bot.sandbox.argo.appscript import WAVE_ANNOTATION
from bot.sandbox.argo.deploying import IN_CLUSTER_NAME, IN_CLUSTER_SERVER, INSTANCE_LABEL
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.eks_auth import EksTokenVerifier
from bot.sandbox.kube import KubeApiServer, write_kubeconfig
from bot.sandbox.slack import SlackDriver, SlackSandbox

LOGS_KEY_FORMAT = (
    "{{workflow.namespace}}/{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}"
    "/{{workflow.creationTimestamp.d}}/{{workflow.name}}/{{pod.name}}"
)
BOT_ROLE_NAME = "chatops-bot"
BOT_USERNAME = "chatops-bot"
WORKFLOWS_NAMESPACE = "argo"
ARGOCD_NAMESPACE = "argocd"
_REGIONS = ("us-east-1", "eu-west-1")
DEMO_CLUSTERS = ("staging", "production")
#: (user id, name, e-mail) of the demo's people; what each may do is in bot/demo/policy.csv.
DEMO_USERS = (
    ("U0ALICE", "alice", "alice@example.com"),
    ("U0BOB", "bob", "bob@example.com"),
    ("U0CAROL", "carol", "carol@example.com"),
    ("U0DAVE", "dave", "dave@example.com"),
)
#: Their full names, which show their role (the Slack stand-in has no title field).
DEMO_REAL_NAMES = {
    "U0ALICE": "Alice (platform admin)",
    "U0BOB": "Bob (developer)",
    "U0CAROL": "Carol (SRE lead)",
    "U0DAVE": "Dave (viewer)",
}
#: (channel id, name); the first is where the demo starts.
DEMO_CHANNELS = (("C0DEPLOYS", "deploys"), ("C0PRODOPS", "prod-ops"), ("C0APPROVE", "approvals"))
#: (group id, handle, members, name): the policy grants roles to these groups.
DEMO_GROUPS = (
    ("S0SRE", "sre", ("U0CAROL",), "SRE"),
    ("S0DEVS", "devs", ("U0BOB",), "Developers"),
)


class SandboxWorld:
    """Start, describe, seed and stop the local stand-ins as one world.

    Args:
        state_dir: where the kubeconfig and `world.json` are written (created if missing).
        clusters: cluster names; the first also hosts Argo CD.
        time_scale: factor for scripted durations in the Argo controllers.
        seed: call `seed_demo()` at the end of `start()`.
        slack_rate_limits: whether the Slack stand-in enforces Slack's rate limits.
        slack_port: where the Slack stand-in (Web API, control API, web page) listens; 0: any.
        team_name: the workspace's name, shown at the top of the web page.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        clusters: tuple[str, ...] = ("dev", "prod"),
        time_scale: float = 0.1,
        seed: bool = False,
        slack_rate_limits: bool = True,
        team_id: str = "T0SANDBOX",
        slack_port: int = 0,
        team_name: str = "Sandbox",
    ) -> None:
        if not clusters:
            raise ValueError("a sandbox world needs at least one cluster")
        self.state_dir = Path(state_dir)
        self.cluster_names = tuple(clusters)
        self.time_scale = time_scale
        self._seed = seed
        self.aws = AwsSandbox()
        self.slack = SlackSandbox(
            team_id=team_id, rate_limits=slack_rate_limits, port=slack_port, team_name=team_name
        )
        self.logs_bucket = f"argo-logs-{secrets.token_hex(4)}"
        self.kube: dict[str, KubeApiServer] = {}
        self.workflow_controllers: dict[str, WorkflowController] = {}
        self.rollout_controllers: dict[str, RolloutController] = {}
        self.app_controller: ApplicationController | None = None
        self.argocd_api: ArgoCdApiServer | None = None
        self.clusters: dict[str, dict[str, Any]] = {}
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SandboxWorld:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._started = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.aws.start()
        self.slack.start()
        self.aws.create_bucket(self.logs_bucket)
        artifacts = ArtifactRepository(
            bucket=self.logs_bucket,
            key_format=LOGS_KEY_FORMAT,
            endpoint_url=self.aws.endpoint_url,
            access_key_id=self.aws.access_key_id,
            secret_access_key=self.aws.secret_access_key,
        )
        for index, name in enumerate(self.cluster_names):
            self._start_cluster(index=index, name=name, artifacts=artifacts)
        first = self.cluster_names[0]
        self.app_controller = ApplicationController(
            api_url=self.kube[first].url,
            token=self.clusters[first]["token"],
            time_scale=self.time_scale,
            destinations=self._destinations(),
        ).start()
        self.argocd_api = ArgoCdApiServer(controller=self.app_controller, namespace=ARGOCD_NAMESPACE).start()
        write_kubeconfig(
            self.kubeconfig_path,
            {
                name: server.kubeconfig_entry(self.clusters[name]["token"])
                for name, server in self.kube.items()
            },
            current=first,
        )
        for controller in self.workflow_controllers.values():
            controller.wait_synced()
        for rollouts in self.rollout_controllers.values():
            rollouts.wait_synced()
        self.app_controller.wait_synced()
        if self._seed:
            self.seed_demo()
        self._write_description()

    def _start_cluster(self, *, index: int, name: str, artifacts: ArtifactRepository) -> None:
        account = f"{210000000001 + index:012d}"
        region = _REGIONS[min(index, len(_REGIONS) - 1)]
        role_arn = self.aws.create_role(account, BOT_ROLE_NAME)
        token = f"sandbox-admin-{secrets.token_hex(16)}"
        verifier = EksTokenVerifier(aws=self.aws, cluster_name=name, role_mappings={role_arn: BOT_USERNAME})
        server = KubeApiServer(name=name, tokens={token: "sandbox-admin"}, authenticate=verifier).start()
        self.kube[name] = server
        # As on EKS, DescribeCluster answers the https endpoint and the base64 PEM of its CA.
        ca_data = base64.b64encode(server.ca_pem.encode()).decode()
        self.aws.create_eks_cluster(
            name=name,
            region=region,
            account_credentials=self.aws.assume_role(role_arn, session_name="sandbox-setup"),
            endpoint=server.https_url,
            ca_data=ca_data,
        )
        self.workflow_controllers[name] = WorkflowController(
            api_url=server.url, token=token, artifacts=artifacts, time_scale=self.time_scale
        ).start()
        self.rollout_controllers[name] = RolloutController(
            api_url=server.url, token=token, time_scale=self.time_scale
        ).start()
        self.clusters[name] = {
            "api_url": server.url,
            "https_url": server.https_url,
            "ca_data": ca_data,
            "token": token,
            "context": name,
            "workflows_namespace": WORKFLOWS_NAMESPACE,
            "argocd": index == 0,
            "eks": {
                "cluster_name": name,
                "region": region,
                "account_id": account,
                "role_arn": role_arn,
                "username": BOT_USERNAME,
            },
        }

    def _destinations(self) -> dict[str, Destination]:
        """Argo CD's clusters as its cluster secrets name them: name and server URL of each."""
        found: dict[str, Destination] = {}
        for index, (name, server) in enumerate(self.kube.items()):
            where = Destination(api_url=server.url, token=self.clusters[name]["token"])
            found.update({name: where, server.https_url: where, server.url: where})
            if index == 0:
                found.update({IN_CLUSTER_NAME: where, IN_CLUSTER_SERVER: where})
        return found

    def stop(self) -> None:
        """Stop controllers, API servers, Slack and AWS, in that order; safe to call twice."""
        if self.argocd_api is not None:  # it reads through the controller: stopped first
            self.argocd_api.stop()
            self.argocd_api = None
        if self.app_controller is not None:
            self.app_controller.stop()
            self.app_controller = None
        for controller in self.workflow_controllers.values():
            controller.stop()
        self.workflow_controllers.clear()
        for rollouts in self.rollout_controllers.values():
            rollouts.stop()
        self.rollout_controllers.clear()
        for server in self.kube.values():
            server.stop()
        self.kube.clear()
        if self._started:
            self.slack.stop()
            self._reset_aws()
            self.aws.stop()
            self._started = False

    def _reset_aws(self) -> None:
        """Forget every bucket, role and EKS cluster this world made.

        moto keeps its state per process, not per server, so without this a second world in
        the same process (a test run, a restarted demo) would find the first one's role and fail
        with EntityAlreadyExists.
        """
        request = urllib.request.Request(f"{self.aws.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def __enter__(self) -> SandboxWorld:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what clients need ---------------------------------------------------------------
    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def argocd_cluster(self) -> str:
        return self.cluster_names[0]

    def describe(self) -> dict[str, Any]:
        """Everything a client needs to connect (sandbox-only tokens included, by design)."""
        return {
            "slack": {
                "api_url": self.slack.api_url,
                "control_url": self.slack.control_url,
                "web_url": self.slack.web_url,
                "bot_token": self.slack.bot_token,
                "app_token": self.slack.app_token,
                "team_id": self.slack.team_id,
                "bot_user_id": self.slack.bot_user_id,
                "app_id": self.slack.app_id,
            },
            "clusters": self.clusters,
            "argocd": {"cluster": self.argocd_cluster, "namespace": ARGOCD_NAMESPACE},
            # Argo CD's API server stand-in, as the bot's `argocd.server_url` and ARGOCD_AUTH_TOKEN
            **(
                {"argocd_api": {"server_url": self.argocd_api.url, "auth_token": self.argocd_api.token}}
                if self.argocd_api is not None
                else {}
            ),
            "aws": {
                "endpoint_url": self.aws.endpoint_url,
                "access_key_id": self.aws.access_key_id,
                "secret_access_key": self.aws.secret_access_key,
                "account_id": self.aws.account_id,
                "region": _REGIONS[0],
            },
            "logs": {"bucket": self.logs_bucket, "key_format": LOGS_KEY_FORMAT, "region": _REGIONS[0]},
            "kubeconfig": str(self.kubeconfig_path),
            "state_dir": str(self.state_dir),
            "time_scale": self.time_scale,
        }

    def _write_description(self) -> None:
        path = self.state_dir / "world.json"
        path.write_text(json.dumps(self.describe(), indent=2) + "\n")
        path.chmod(0o600)

    # -- demo data -----------------------------------------------------------------------
    def seed_demo(self) -> dict[str, Any]:
        """Create the demo's Slack people/channels/groups, templates, apps with history and Rollouts.

        Each seeded app's resources are also put on its cluster, as its last sync left them, so
        the Argo CD API stand-in finds an app in sync without a diff.

        Works for any cluster names: the first cluster plays staging and the last production
        in the Argo CD catalogue (`samples.demo_applications`). Returns what was created (ids
        and names), so a demo page can say what to try. Idempotent for the Kubernetes objects;
        Slack entries are overwritten.
        """
        if self.app_controller is None:
            raise RuntimeError("start() the world before seeding it")
        driver = SlackDriver(self.slack.control_url)
        for user_id, name, email in DEMO_USERS:
            driver.add_user(user_id, name=name, email=email, real_name=DEMO_REAL_NAMES.get(user_id))
        for channel_id, name in DEMO_CHANNELS:
            driver.add_channel(channel_id, name=name)
        for group_id, handle, users, title in DEMO_GROUPS:
            driver.add_usergroup(group_id, handle=handle, users=list(users), name=title)
        templates: list[str] = []
        for name, server in self.kube.items():
            templates = samples.seed_templates(
                url=server.url, token=self.clusters[name]["token"], namespace=WORKFLOWS_NAMESPACE
            )
        first = self.argocd_cluster
        apps = samples.seed_demo_applications(
            url=self.kube[first].url,
            token=self.clusters[first]["token"],
            clusters=self.cluster_names,
            controller=self.app_controller,
            namespace=ARGOCD_NAMESPACE,
        )
        self._deploy_seeded(apps)
        rollouts = samples.seed_demo_rollouts(
            clusters={name: (server.url, self.clusters[name]["token"]) for name, server in self.kube.items()}
        )
        return {
            "users": [u[0] for u in DEMO_USERS],
            "channels": [c[0] for c in DEMO_CHANNELS],
            "usergroups": [g[0] for g in DEMO_GROUPS],
            "workflow_templates": templates,
            "applications": apps,
            "rollouts": rollouts,
        }

    def _deploy_seeded(self, names: list[str]) -> None:
        """Put each seeded app's resources on its cluster, as its last (replayed) sync left them.

        `replay` writes history without deploying; without the live objects, the Argo CD API
        stand-in would show every resource of a Synced app as about to be created.
        """
        controller = self.app_controller
        assert controller is not None
        for name in names:
            # The generated client types a custom object as `object`; it is the decoded JSON body.
            app = cast(
                dict[str, Any],
                controller.api.get_namespaced_custom_object(
                    "argoproj.io", "v1alpha1", ARGOCD_NAMESPACE, "applications", name
                ),
            )
            destination = app.get("spec", {}).get("destination") or {}
            where = controller.deployer.target(destination)
            if where is None or not (app.get("status") or {}).get("history"):
                continue
            for resource in controller.script_for(app).resources:
                if resource.hook:
                    continue
                controller.deployer.apply(
                    where,
                    api_version=resource.api_version,
                    kind=resource.kind,
                    namespace=resource.namespace or str(destination.get("namespace") or ""),
                    name=resource.name,
                    labels={INSTANCE_LABEL: name},
                    annotations={WAVE_ANNOTATION: str(resource.wave)},
                )

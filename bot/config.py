"""Configuration: one YAML file plus environment variables for secrets.

`load_settings(path, environ)` is the only place that reads the environment or the config
file. Every model is frozen and forbids unknown keys, so a typo is an error that names the
file and the key path (``clusters[1].eks.region``) instead of a silently ignored setting.
Secrets (Slack tokens, database passwords) never live in the file: they come from
`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN` and `DATABASE_URL`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.labels import selector_problem

K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# an API server: http(s)://host[:port][/path], as Argo CD's `destination.server` holds it
SERVER_URL = re.compile(r"^https?://[^/\s?#@]+(/[^\s?#]*)?$", re.IGNORECASE)
SLACK_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
DATABASE_URL = re.compile(r"^(sqlite|postgres|postgresql|mysql|mariadb)(\+[a-z0-9_]+)?://", re.IGNORECASE)
# user:password@ in a URL's authority; the password group must stay out of every message.
URL_PASSWORD = re.compile(r"^[a-z0-9+]+://[^/@:]*:(?P<password>[^/@]+)@", re.IGNORECASE)
# ?password=… (and passwd, sslpassword): another way drivers take a password in a URL
QUERY_PASSWORD = re.compile(r"[?&](?:ssl)?pass(?:word|wd)=", re.IGNORECASE)
SCHEDULE_KINDS = ("app-health", "workflow-digest", "pending-approvals", "run")

#: What a subscription can be told about, per kind (`bot.subscribing` reads these too).
SUBSCRIPTION_TRIGGERS = {
    "apps": (
        "sync-started",
        "sync-succeeded",
        "sync-failed",
        "health-degraded",
        "health-recovered",
        "out-of-sync",
    ),
    "workflows": ("started", "succeeded", "failed"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackSettings(_Model):
    """How the bot meets Slack. Tokens come from the environment only."""

    command: str = "/ops"
    team_id: str | None = None
    api_url: str | None = Field(
        default=None, description="Web API base URL; only for the local sandbox (ends with /api/)."
    )
    approvals_channel: str | None = None
    user_cache_ttl_seconds: float = Field(default=60.0, gt=0)
    #: Whether people from other workspaces (Slack Connect) may use the bot; by default not.
    allow_external_users: bool = False
    #: The role guests (multi- and single-channel) get instead of the policy's default role.
    guest_role: str | None = Field(default=None, pattern=r"^role:[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
    #: Commands one person may send in any rolling minute (0: no limit); past it: "slow down".
    commands_per_minute: int = Field(default=30, ge=0, le=10_000)
    #: Commands accepted and waiting for a worker; past it the bot answers "busy" at once.
    queue_limit: int = Field(default=500, ge=1, le=100_000)
    #: Who holds the Socket Mode connection and acks: `process`, a small process of its own that
    #: the command work can never delay, or `thread`, threads of the bot's own process.
    acker: Literal["process", "thread"] = "process"
    bot_token: SecretStr | None = Field(default=None, exclude=True)
    app_token: SecretStr | None = Field(default=None, exclude=True)

    @field_validator("command")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not re.fullmatch(r"/[a-z0-9_-]{1,31}", value):
            raise ValueError("must be a slash command such as /ops (lower case, starts with /)")
        return value

    @field_validator("approvals_channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_CHANNEL_ID.match(value):
            raise ValueError("must be a Slack channel id such as C0123ABCD")
        return value


class KubeconfigAuth(_Model):
    kind: Literal["kubeconfig"]
    path: str | None = None
    context: str | None = None


class InClusterAuth(_Model):
    kind: Literal["in-cluster"]


class EksAuth(_Model):
    """EKS through IAM: optional AssumeRole into the cluster's account, then a `k8s-aws-v1.` token."""

    kind: Literal["eks"]
    cluster_name: str
    region: str
    role_arn: str | None = None
    external_id: str | None = None
    endpoint_url: str | None = Field(default=None, description="AWS endpoint override (sandbox only).")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", value):
            raise ValueError("must be an AWS region such as eu-west-1")
        return value

    @field_validator("role_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", value):
            raise ValueError("must be an IAM role ARN such as arn:aws:iam::123456789012:role/chatops")
        return value


class TokenAuth(_Model):
    """A static API server URL and a bearer token read from an environment variable."""

    kind: Literal["token"]
    server: str
    token_env: str
    insecure_skip_tls_verify: bool = False
    ca_file: str | None = None


ClusterAuth = Annotated[KubeconfigAuth | InClusterAuth | EksAuth | TokenAuth, Field(discriminator="kind")]


class ClusterSettings(_Model):
    name: str
    auth: ClusterAuth
    workflows_namespace: str = "argo"
    argocd_namespace: str | None = Field(
        default=None, description="Namespace of Argo CD on this cluster; unset when Argo CD is not here."
    )
    channels: tuple[str, ...] = Field(
        default=(), description="When set, commands for this cluster are accepted only from these channels."
    )
    argo_ui_url: str | None = None
    argocd_ui_url: str | None = None
    server_urls: tuple[str, ...] = Field(
        default=(),
        description="More API server URLs Argo CD may name this cluster by (`destination.server`).",
    )
    aliases: tuple[str, ...] = Field(
        default=(),
        description="More Argo CD cluster names that mean this cluster (`destination.name`).",
    )
    watch_namespaces: tuple[str, ...] = Field(
        default=(),
        description=(
            "More namespaces whose Workflows subscriptions may follow, besides workflows_namespace; "
            "'*' for every namespace (one cluster-wide watch)."
        ),
    )

    def watched_namespaces(self) -> tuple[str, ...] | None:
        """The namespaces the bot watches Workflows in; None for every namespace."""
        if "*" in self.watch_namespaces:
            return None
        return tuple(dict.fromkeys((self.workflows_namespace, *self.watch_namespaces)))

    def watches(self, namespace: str) -> bool:
        watched = self.watched_namespaces()
        return watched is None or namespace in watched

    @field_validator("name", "workflows_namespace", "argocd_namespace")
    @classmethod
    def _k8s_name(cls, value: str | None) -> str | None:
        if value is not None and not K8S_NAME.match(value):
            raise ValueError("must be a lower-case DNS label such as prod-eu (letters, digits, '-')")
        return value

    @field_validator("watch_namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for namespace in value:
            if namespace != "*" and not K8S_NAME.match(namespace):
                raise ValueError(f"{namespace!r} is not a namespace (a lower-case DNS label) nor '*'")
        return value

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for channel in value:
            if not SLACK_CHANNEL_ID.match(channel):
                raise ValueError(f"{channel!r} is not a Slack channel id such as C0123ABCD")
        return value

    @field_validator("server_urls")
    @classmethod
    def _server_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not SERVER_URL.match(url.strip()):
                raise ValueError(
                    f"{url!r} is not an API server URL such as https://ABC123.gr7.eu-west-1.eks.amazonaws.com"
                )
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for alias in value:
            if not alias.strip() or alias != alias.strip() or "://" in alias:
                raise ValueError(f"{alias!r} is not an Argo CD cluster name (put URLs under server_urls)")
        return value


class LogsSettings(_Model):
    """Where Argo archives step logs (its artifact repository) and how the bot links them."""

    bucket: str
    region: str = "us-east-1"
    key_format: str = "{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    presign_expiry_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    tail_lines: int = Field(default=30, ge=1, le=200)
    endpoint_url: str | None = Field(default=None, description="S3 endpoint override (sandbox only).")


class DatabaseSettings(_Model):
    """Where runs, approvals and the audit log live. A URL with a password comes from DATABASE_URL."""

    url: str = "sqlite:///chatops.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not DATABASE_URL.match(value):
            raise ValueError(
                "must be a database URL such as sqlite:///chatops.db, "
                "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
            )
        return value


class RbacSettings(_Model):
    """Argo-CD-style CSV policy, inline or in a file (reloaded when it changes)."""

    policy: str | None = None
    policy_file: str | None = None
    default_role: str | None = Field(default=None, description="Role every user holds, e.g. role:readonly.")
    admin_subjects: tuple[str, ...] = ()

    @field_validator("default_role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("role:"):
            raise ValueError("must be a role such as role:readonly")
        return value


class ApprovalRule(_Model):
    """An action that needs approval first (a rollback always does; a rule for it sets its quorum)."""

    resource: Literal["applications", "workflows", "rollouts"]
    action: str
    object: str = "*"
    #: how many different people must approve (never the requester)
    approvals: int = Field(default=1, ge=1, le=10)
    #: when set, only people with one of these subjects count (`group:sre`, `role:lead`,
    #: `slack:U…`, `email:…`), on top of `approvals, approve` on the object
    approvers: tuple[str, ...] = ()

    @field_validator("approvers")
    @classmethod
    def _subjects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subject in value:
            kind, _, name = subject.partition(":")
            if kind not in ("group", "role", "slack", "email") or not name.strip():
                raise ValueError(
                    f"{subject!r} is not a subject: use group:<handle>, role:<name>, slack:<user id> "
                    "or email:<address>"
                )
        return value


class ApprovalSettings(_Model):
    expiry_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    allow_self_approval: bool = False
    disable_auto_sync_on_rollback: bool = False
    #: how often the channel hears of an app a rollback pinned (auto-sync off), until it is on
    pin_reminder_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    require_for: tuple[ApprovalRule, ...] = ()


class ScheduleSettings(_Model):
    name: str
    kind: Literal["app-health", "workflow-digest", "pending-approvals", "run"]
    cron: str
    timezone: str = "UTC"
    channel: str
    cluster: str | None = None
    template: str | None = None
    parameters: dict[str, str] = Field(default_factory=dict)
    window_hours: int = Field(default=24, ge=1, le=24 * 31)
    #: The Slack user id the schedule acts for: a `run` schedule runs with their permissions.
    owner: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{1,30}$")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("must be a 5-field cron expression such as '0 9 * * mon-fri'")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Europe/Paris or UTC") from exc
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not SLACK_CHANNEL_ID.match(value):
            raise ValueError("must be a Slack channel id such as C0123ABCD")
        return value

    @model_validator(mode="after")
    def _run_needs_template(self) -> ScheduleSettings:
        if self.kind == "run" and not self.template:
            raise ValueError("a schedule of kind 'run' needs 'template'")
        if self.kind == "run" and not self.owner:
            raise ValueError(
                "a schedule of kind 'run' needs 'owner': the Slack user id it runs for "
                "(it runs with that person's permissions)"
            )
        return self


class SubscriptionSettings(_Model):
    """A channel's subscription written in the file (the same as `subscribe` typed there)."""

    #: How `unsubscribe` and `subscriptions` name it; default `config-N` (N: its place in the file).
    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    channel: str
    kind: Literal["apps", "workflows"]
    #: A glob on the app name (apps) or the WorkflowTemplate name (workflows).
    name: str = Field(min_length=1, max_length=253)
    project: str | None = None
    cluster: str | None = None
    #: Only Workflows of this namespace (kind `workflows`; one the cluster watches).
    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    #: Only Workflows whose labels match this selector (kind `workflows`): `k=v,k!=v,k,!k`.
    selector: str | None = Field(default=None, min_length=1, max_length=255)
    #: Triggers (`--on` in Slack; `on` itself reads as a boolean in YAML): default
    #: sync-succeeded and sync-failed for apps, failed for workflows.
    triggers: tuple[str, ...] = ()
    #: The Slack user id it acts for: nothing is posted that they could not `get` themselves.
    owner: str = Field(pattern=r"^[UW][A-Z0-9]{1,30}$")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not SLACK_CHANNEL_ID.match(value):
            raise ValueError("must be a Slack channel id such as C0123ABCD")
        return value

    @model_validator(mode="after")
    def _known_triggers(self) -> SubscriptionSettings:
        known = SUBSCRIPTION_TRIGGERS[self.kind]
        for trigger in self.triggers:
            if trigger not in known:
                raise ValueError(
                    f"triggers: {trigger!r} is not a trigger for {self.kind}; use {', '.join(known)}"
                )
        if self.project is not None and self.kind != "apps":
            raise ValueError("'project' applies only to subscriptions of kind 'apps'")
        for key in ("namespace", "selector"):
            if getattr(self, key) is not None and self.kind != "workflows":
                raise ValueError(f"'{key}' applies only to subscriptions of kind 'workflows'")
        if self.selector is not None:
            problem = selector_problem(self.selector)
            if problem:
                raise ValueError(f"selector: {problem}")
        return self


class LeaderElectionSettings(_Model):
    """With several replicas, one leader (a coordination.k8s.io Lease) follows runs; all answer Slack."""

    enabled: bool = False
    cluster: str | None = Field(
        default=None, description="The configured cluster that holds the Lease (where the bot runs)."
    )
    namespace: str | None = Field(default=None, description="Default: $POD_NAMESPACE.")
    identity: str | None = Field(default=None, description="Default: $POD_NAME, else the host name.")
    lease_name: str = "argo-chatops"
    lease_seconds: float = Field(default=15.0, ge=2, le=300)
    renew_seconds: float = Field(default=5.0, ge=0.5, le=100)

    @model_validator(mode="after")
    def _renew_within_lease(self) -> LeaderElectionSettings:
        if self.renew_seconds >= self.lease_seconds:
            raise ValueError("renew_seconds must be shorter than lease_seconds")
        return self


class DebounceSettings(_Model):
    """How long subscriptions wait before telling about an app's condition (not its syncs)."""

    #: `out-of-sync` is told once an app stayed OutOfSync this long.
    out_of_sync_minutes: float = Field(default=10.0, ge=0, le=24 * 60)
    #: this many Degraded episodes within `flapping_window_minutes` make an app flapping.
    flapping_episodes: int = Field(default=3, ge=2, le=100)
    flapping_window_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    #: a flapping app that held one state this long has settled (one message says how).
    settle_minutes: float = Field(default=15.0, gt=0, le=24 * 60)


class ArgoCdSettings(_Model):
    """Argo CD's API server, for the manifest diff on approval cards (token: ARGOCD_AUTH_TOKEN)."""

    server_url: str | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: from ARGOCD_AUTH_TOKEN only (the variable the argocd CLI reads), never from the file
    auth_token: SecretStr | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _token_with_server(self) -> ArgoCdSettings:
        if self.server_url and self.auth_token is None:
            raise ValueError(
                "server_url is set but ARGOCD_AUTH_TOKEN is not: export an Argo CD API token in the "
                "environment (never in the file), or remove argocd.server_url"
            )
        return self

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not SERVER_URL.match(value.strip()):
            raise ValueError(f"{value!r} is not a URL such as https://argocd.example.com")
        return value


class ServerSettings(_Model):
    """The HTTP port for /healthz, /readyz and /metrics (0 disables it)."""

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)


class Settings(_Model):
    slack: SlackSettings = Field(default_factory=SlackSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    clusters: tuple[ClusterSettings, ...] = ()
    logs: LogsSettings | None = None
    rbac: RbacSettings = Field(default_factory=RbacSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    schedules: tuple[ScheduleSettings, ...] = ()
    subscriptions: tuple[SubscriptionSettings, ...] = ()
    debounce: DebounceSettings = Field(default_factory=DebounceSettings)
    argocd: ArgoCdSettings = Field(default_factory=ArgoCdSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)
    source_path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, names in (
            ("clusters", [c.name for c in self.clusters]),
            ("schedules", [s.name for s in self.schedules]),
            ("subscriptions", [s.id for s in self.subscriptions if s.id]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{label}: the name {name!r} is used twice; names must be unique")
                seen.add(name)
        known = {c.name for c in self.clusters}
        election = self.leader_election
        if election.enabled and (election.cluster is None or election.cluster not in known):
            raise ValueError(
                "leader_election: 'cluster' must name one of the clusters (the one the bot runs in, "
                f"usually with auth kind in-cluster); configured: {', '.join(sorted(known)) or 'none'}"
            )
        for schedule in self.schedules:
            if schedule.cluster is not None and schedule.cluster not in known:
                raise ValueError(
                    f"schedules: {schedule.name!r} names cluster {schedule.cluster!r}, "
                    f"which is not under clusters ({', '.join(sorted(known)) or 'none configured'})"
                )
        return self

    def cluster(self, name: str) -> ClusterSettings | None:
        return next((c for c in self.clusters if c.name == name), None)

    def policy_path(self) -> Path | None:
        """The policy file, resolved relative to the config file."""
        if self.rbac.policy_file is None:
            return None
        path = Path(self.rbac.policy_file)
        if not path.is_absolute() and self.source_path:
            path = Path(self.source_path).parent / path
        return path


def _location(loc: tuple[int | str, ...]) -> str:
    """Render pydantic's location tuple as ``clusters[1].eks.region``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("kubeconfig", "in-cluster", "eks", "token") and out.endswith("auth"):
            # the discriminated union adds the tag as a path element; it reads better without it
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def _shown(value: Any) -> str:
    """A short rendering of the offending value (config values are not secret: tokens are refused)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, got {_shown(error.get('input'))}"
    if kind == "extra_forbidden":
        return "is not a known key (check the spelling; see docs/configuration.md)"
    if kind == "missing":
        return "is required but missing"
    if kind == "union_tag_invalid":
        return "has an unknown 'kind': expected one of kubeconfig, in-cluster, eks, token"
    if kind == "union_tag_not_found":
        return "needs a 'kind': one of kubeconfig, in-cluster, eks, token"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    return f"is invalid: {message}" if not message.startswith(("must", "a ", "the ")) else message


def to_problems(exc: ValidationError, *, source: str) -> list[str]:
    """Turn a pydantic error into lines that name the file, the key path and what was expected."""
    problems = []
    for error in exc.errors():
        where = _location(tuple(error.get("loc", ())))
        problems.append(f"{source}: {where} {_describe(error)}")
    return problems


def parse_settings(data: Any, *, source: str, environ: Mapping[str, str]) -> Settings:
    """Validate already-loaded YAML data and overlay the environment's secrets."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections (slack, clusters, ...)"])
    data = dict(data)
    slack = dict(data.get("slack") or {})
    for key in ("bot_token", "app_token"):
        if key in slack:
            raise ConfigError(
                [f"{source}: slack.{key} must not be in the file; set SLACK_{key.upper()} in the environment"]
            )
    if environ.get("SLACK_BOT_TOKEN"):
        slack["bot_token"] = environ["SLACK_BOT_TOKEN"]
    if environ.get("SLACK_APP_TOKEN"):
        slack["app_token"] = environ["SLACK_APP_TOKEN"]
    data["slack"] = slack
    argocd = dict(data.get("argocd") or {})
    if "auth_token" in argocd:
        raise ConfigError([f"{source}: argocd.auth_token must not be in the file; set ARGOCD_AUTH_TOKEN"])
    if environ.get("ARGOCD_AUTH_TOKEN"):
        argocd["auth_token"] = environ["ARGOCD_AUTH_TOKEN"]
        data["argocd"] = argocd
    database_in_file = data.get("database")
    file_url = database_in_file.get("url") if isinstance(database_in_file, dict) else None
    if isinstance(file_url, str) and (URL_PASSWORD.match(file_url) or QUERY_PASSWORD.search(file_url)):
        raise ConfigError(
            [
                f"{source}: database.url must not hold a password in the file; "
                "set DATABASE_URL in the environment (from a Secret) instead"
            ]
        )
    election = dict(data.get("leader_election") or {})
    if election.get("enabled"):
        # the Deployment passes the pod's name and namespace through the downward API
        if not election.get("namespace") and environ.get("POD_NAMESPACE"):
            election["namespace"] = environ["POD_NAMESPACE"]
        if not election.get("identity") and environ.get("POD_NAME"):
            election["identity"] = environ["POD_NAME"]
        data["leader_election"] = election
    if environ.get("DATABASE_URL"):
        database = dict(data.get("database") or {})
        database["url"] = environ["DATABASE_URL"]
        data["database"] = database
    data["source_path"] = source
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(to_problems(exc, source=source)) from None


def load_settings(path: str | Path, environ: Mapping[str, str]) -> Settings:
    """Read and validate the config file; raise `ConfigError` naming every problem found."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: no such file (pass --config FILE or set CHATOPS_CONFIG)"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot be read ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{source}: not valid YAML{where}: {problem}"]) from None
    return parse_settings(data, source=source, environ=environ)

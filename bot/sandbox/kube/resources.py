"""The kinds the Kubernetes stand-in serves: names, scope, verbs and printer columns.

Mirrors what a real apiserver with the Argo Workflows and Argo CD CRDs installed reports in
discovery, so that `kubectl` resolves `wf`, `app`, `ro`, `workflow`, `ns` and friends the same way.
It holds no objects (see `store`) and no HTTP (see `server`); `discovery` and `tables` read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = (
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
)
STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class PrinterColumn:
    """One extra column of `kubectl get` (a CRD's additionalPrinterColumns, or a built-in's)."""

    name: str
    json_path: str  # dotted path such as ".status.phase"
    type: str = "string"  # "string", "integer", "date"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceType:
    """A served resource: one group/version/plural with the names discovery advertises."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    has_status: bool = False
    custom: bool = False  # a CRD: no strategic merge, updates need a resourceVersion
    columns: tuple[PrinterColumn, ...] = ()
    field_labels: tuple[str, ...] = field(default=("metadata.name", "metadata.namespace"))

    @property
    def api_version(self) -> str:
        """The `apiVersion` objects of this kind carry (`v1`, `argoproj.io/v1alpha1`)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """The name Status messages use: `workflows.argoproj.io`, or just `pods` for core."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind as Invalid messages spell it: `Workflow.argoproj.io`, or `ConfigMap`."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


_AGE_OF_START = PrinterColumn("Age", ".status.startedAt", "date", "When the workflow was started")

DEFAULT_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        False,
        ("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        has_status=True,
        columns=(PrinterColumn("Status", ".status.phase", description="The phase of the namespace"),),
        field_labels=("metadata.name", "status.phase"),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        True,
        ("po",),
        ("all",),
        has_status=True,
        columns=(PrinterColumn("Status", ".status.phase"),),
        field_labels=(
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "status.phase",
            "spec.serviceAccountName",
        ),
    ),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    ResourceType(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        True,
        columns=(PrinterColumn("Type", ".type"),),
        field_labels=("metadata.name", "metadata.namespace", "type"),
    ),
    ResourceType(
        "",
        "v1",
        "services",
        "service",
        "Service",
        True,
        ("svc",),
        ("all",),
        has_status=True,
        columns=(PrinterColumn("Type", ".spec.type"), PrinterColumn("Cluster-IP", ".spec.clusterIP")),
    ),
    ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    ResourceType(
        "",
        "v1",
        "events",
        "event",
        "Event",
        True,
        ("ev",),
        columns=(
            PrinterColumn("Type", ".type"),
            PrinterColumn("Reason", ".reason"),
            PrinterColumn("Message", ".message"),
        ),
        field_labels=(
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        True,
        ("deploy",),
        ("all",),
        has_status=True,
        columns=(
            PrinterColumn("Ready", ".status.readyReplicas", "integer"),
            PrinterColumn("Available", ".status.availableReplicas", "integer"),
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        True,
        ("rs",),
        ("all",),
        has_status=True,
        columns=(PrinterColumn("Desired", ".spec.replicas", "integer"),),
    ),
    # The other kinds the sandbox's Argo CD deploys from the demo's app scripts.
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        True,
        (),
        ("all",),
        has_status=True,
        columns=(PrinterColumn("Completions", ".status.succeeded", "integer"),),
    ),
    ResourceType(
        "networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",), has_status=True
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
        ("all",),
        has_status=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        has_status=True,
    ),
    ResourceType(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        True,
        columns=(PrinterColumn("Holder", ".spec.holderIdentity"),),
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "workflows",
        "workflow",
        "Workflow",
        True,
        ("wf",),
        has_status=True,
        custom=True,
        columns=(
            PrinterColumn("Status", ".status.phase", description="Status of the workflow"),
            _AGE_OF_START,
            PrinterColumn(
                "Message",
                ".status.message",
                description="Human readable message "
                "indicating details about why the workflow is in this condition",
                priority=1,
            ),
        ),
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "workflowtemplates",
        "workflowtemplate",
        "WorkflowTemplate",
        True,
        ("wftmpl",),
        custom=True,
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "clusterworkflowtemplates",
        "clusterworkflowtemplate",
        "ClusterWorkflowTemplate",
        False,
        ("clusterwftmpl", "cwft"),
        custom=True,
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "cronworkflows",
        "cronworkflow",
        "CronWorkflow",
        True,
        ("cwf", "cronwf"),
        custom=True,
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "applications",
        "application",
        "Application",
        True,
        ("app", "apps"),
        has_status=True,
        custom=True,
        columns=(
            PrinterColumn("Sync Status", ".status.sync.status"),
            PrinterColumn("Health Status", ".status.health.status"),
            PrinterColumn("Revision", ".status.sync.revision", priority=10),
            PrinterColumn("Project", ".spec.project", priority=10),
        ),
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "appprojects",
        "appproject",
        "AppProject",
        True,
        ("appproj", "appprojs"),
        custom=True,
    ),
    # Argo Rollouts (the sandbox's `RolloutController` drives them).
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "rollouts",
        "rollout",
        "Rollout",
        True,
        ("ro",),
        has_status=True,
        custom=True,
        columns=(
            PrinterColumn("Phase", ".status.phase", description="The rollout's phase"),
            PrinterColumn("Step", ".status.currentStepIndex", "integer", priority=1),
            PrinterColumn("Message", ".status.message", priority=1),
        ),
    ),
    ResourceType(
        "argoproj.io",
        "v1alpha1",
        "analysisruns",
        "analysisrun",
        "AnalysisRun",
        True,
        ("ar",),
        has_status=True,
        custom=True,
        columns=(PrinterColumn("Status", ".status.phase", description="AnalysisRun status"),),
    ),
)


class Registry:
    """Lookup of served resource types by group/version/plural, and by group for discovery."""

    def __init__(self, types: Iterable[ResourceType] = DEFAULT_TYPES) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        for rtype in types:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        """Serve one more kind (e.g. a CRD a test needs); replaces one with the same name."""
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at this path, or None (the server answers 404)."""
        return self._types.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Named groups (core excluded) mapped to their versions, in registration order."""
        found: dict[str, list[str]] = {}
        for rtype in self._types.values():
            if rtype.group:
                versions = found.setdefault(rtype.group, [])
                if rtype.version not in versions:
                    versions.append(rtype.version)
        return found

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Every type of one group/version (what `/apis/{group}/{version}` lists)."""
        return [t for t in self._types.values() if t.group == group and t.version == version]

"""Argo CD destinations -> the bot's clusters: URL normalisation and the mapping, as tables.

The use-case tests (`tests/commands/test_commands_destinations.py`) show what people see; these
pin the rules: which spellings of a server URL are one server, what each configured cluster is
known by, and that what is claimed twice, or by nobody, stays unmapped (`None`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.argo import cd
from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings, load_settings
from bot.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://ABC123.gr7.EU-WEST-1.eks.amazonaws.com", "https://abc123.gr7.eu-west-1.eks.amazonaws.com"),
        ("HTTPS://abc.example.com/", "https://abc.example.com"),
        ("https://abc.example.com:443", "https://abc.example.com"),
        ("https://abc.example.com:443/", "https://abc.example.com"),
        ("http://abc.example.com:80", "http://abc.example.com"),
        ("https://abc.example.com:6443", "https://abc.example.com:6443"),
        ("http://abc.example.com:443", "http://abc.example.com:443"),
        ("https://abc.example.com.", "https://abc.example.com"),
        ("  https://abc.example.com  ", "https://abc.example.com"),
        ("https://user@abc.example.com", "https://abc.example.com"),
        (
            "https://rancher.example.com/k8s/clusters/c-Ab12/",
            "https://rancher.example.com/k8s/clusters/c-Ab12",
        ),
        ("https://abc.example.com?x=1#top", "https://abc.example.com"),
        ("https://[FD00::1]:443/", "https://[fd00::1]"),
        ("https://10.0.0.5:6443", "https://10.0.0.5:6443"),
        ("https://kubernetes.default.svc/", "https://kubernetes.default.svc"),
        ("https://abc.example.com:notaport", "https://abc.example.com:notaport"),
    ],
)
def test_destinations_normalise_server_urls(url: str, normalised: str) -> None:
    assert cd.normalise_server(url) == normalised


PROD_URL = "https://ABC.gr7.eu-west-1.eks.amazonaws.com"
CLUSTERS = [
    cd.KnownCluster(name="ops", api_url=cd.IN_CLUSTER_SERVER),
    cd.KnownCluster(name="dev", api_url="https://dev.example.com:6443"),
    cd.KnownCluster(
        name="prod",
        api_url=PROD_URL,
        server_urls=("https://prod-private.example.com/",),
        aliases=("arn:aws:eks:eu-west-1:111122223333:cluster/prod",),
    ),
    # two clusters behind one URL, and one alias claimed twice: neither may win
    cd.KnownCluster(name="lab-a", api_url="https://lab.example.com", aliases=("lab",)),
    cd.KnownCluster(name="lab-b", api_url="https://LAB.example.com:443/", aliases=("lab",)),
    cd.KnownCluster(name="unknown-url", api_url=None),
]


@pytest.mark.parametrize(
    ("host", "destination", "cluster"),
    [
        # by name and alias
        ("dev", "prod", "prod"),
        ("dev", "arn:aws:eks:eu-west-1:111122223333:cluster/prod", "prod"),
        ("dev", "unknown-url", "unknown-url"),
        ("dev", "staging", None),
        ("dev", "Prod", None),
        ("dev", "", None),
        # by the API URL the bot reaches the cluster at, in any spelling
        ("dev", PROD_URL, "prod"),
        ("dev", "https://abc.gr7.eu-west-1.eks.amazonaws.com:443/", "prod"),
        ("dev", "https://dev.example.com:6443/", "dev"),
        ("dev", "https://dev.example.com", None),  # another port is another server
        ("dev", "http://abc.gr7.eu-west-1.eks.amazonaws.com", None),  # another scheme too
        # by `server_urls`
        ("dev", "https://PROD-private.example.com", "prod"),
        # Argo CD's own cluster is the cluster that Argo CD runs on, whoever else claims it
        ("dev", "https://kubernetes.default.svc", "dev"),
        ("dev", "https://kubernetes.default.svc:443/", "dev"),
        ("dev", "in-cluster", "dev"),
        ("prod", "https://kubernetes.default.svc", "prod"),
        ("ops", "in-cluster", "ops"),
        # claimed twice: unmapped, never the wrong one
        ("dev", "https://lab.example.com", None),
        ("dev", "lab", None),
        ("dev", "lab-a", "lab-a"),
        # nobody's
        ("dev", "https://somewhere.example.com", None),
    ],
)
def test_destinations_map_to_the_configured_cluster(host: str, destination: str, cluster: str | None) -> None:
    mapping = cd.destination_map(host=host, clusters=CLUSTERS)
    assert cd.destination_cluster(destination, cluster_name_of_destination=mapping) == cluster


def test_destinations_map_raw_urls_given_by_hand() -> None:
    mapping = {"https://ABC.example.com:443/": "prod"}
    assert cd.destination_cluster("https://abc.example.com", cluster_name_of_destination=mapping) == "prod"


def _clusters_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "chatops.yaml"
    path.write_text(
        "clusters:\n  - name: prod\n    auth: {kind: eks, cluster_name: prod, region: eu-west-1}\n" + extra,
        encoding="utf-8",
    )
    return path


def test_destinations_server_urls_and_aliases_are_read_from_the_config(tmp_path: Path) -> None:
    path = _clusters_file(
        tmp_path,
        "    server_urls: ['https://prod-private.example.com:6443']\n"
        "    aliases: ['arn:aws:eks:eu-west-1:111122223333:cluster/prod']\n",
    )
    cluster = load_settings(path, {}).clusters[0]
    assert isinstance(cluster, ClusterSettings)
    assert cluster.server_urls == ("https://prod-private.example.com:6443",)
    assert cluster.aliases == ("arn:aws:eks:eu-west-1:111122223333:cluster/prod",)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("    server_urls: ['prod.example.com']\n", "clusters[0].server_urls is invalid: 'prod.example.com'"),
        ("    server_urls: ['ftp://prod.example.com']\n", "is not an API server URL"),
        ("    aliases: ['https://prod.example.com']\n", "put URLs under server_urls"),
        ("    aliases: ['']\n", "is not an Argo CD cluster name"),
    ],
)
def test_destinations_config_mistakes_are_named(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_clusters_file(tmp_path, extra), {})
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_destinations_registry_knows_each_clusters_api_url(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "lab", "cluster": {"server": "https://LAB.example.com:443/"}}],
                "users": [{"name": "bot", "user": {"token": "lab-token"}}],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "bot"}}],
                "current-context": "lab",
            }
        ),
        encoding="utf-8",
    )
    settings = [
        ClusterSettings.model_validate(cluster)
        for cluster in (
            {
                "name": "edge",
                "auth": {"kind": "token", "server": "https://edge.example.com/", "token_env": "T"},
            },
            {"name": "lab", "auth": {"kind": "kubeconfig", "path": str(kubeconfig), "context": "lab"}},
            {"name": "ops", "auth": {"kind": "in-cluster"}},
            {"name": "gone", "auth": {"kind": "kubeconfig", "path": str(tmp_path / "missing")}},
        )
    ]
    with ClusterRegistry(settings, environ={"T": "edge-token"}) as registry:
        urls = {name: registry.api_url(name) for name in registry.names()}
        known = [cd.KnownCluster(name=name, api_url=url) for name, url in urls.items()]
        mapping = cd.destination_map(host="ops", clusters=known)

    assert urls == {
        "edge": "https://edge.example.com/",
        "lab": "https://LAB.example.com:443",  # the context's server, as the client reaches it
        "ops": "https://kubernetes.default.svc",
        "gone": None,  # not learnable now: apps aimed at it stay unmapped, never guessed
    }
    found = {
        url: cd.destination_cluster(url, cluster_name_of_destination=mapping)
        for url in (
            "https://lab.example.com",
            "https://EDGE.example.com:443",
            "https://kubernetes.default.svc",
        )
    }
    assert found == {
        "https://lab.example.com": "lab",
        "https://EDGE.example.com:443": "edge",
        "https://kubernetes.default.svc": "ops",
    }

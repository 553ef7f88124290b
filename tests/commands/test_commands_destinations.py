"""Argo CD destinations through the pipeline: an app aimed at prod by URL is a prod app.

An Application may name its destination cluster (`destination.name`) or give its API server
(`destination.server`). Either way the bot must know it as the configured cluster, so a `deny`
on prod and prod's channel binding cover it: by the cluster's API URL (a token cluster's
`server`, an EKS cluster's endpoint from DescribeCluster), by `server_urls` and `aliases` in
the config, in any spelling of the URL. A destination that is none of the bot's clusters is
never written to, is shown as such in `apps`, and is read only where no configured cluster's
deny could apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import ARGO_POLICY, GROUP, VERSION, Tier
from e2e_world import ADMIN, DEV, OPS_CHANNEL, PROD_CHANNEL, running_bot, token_auth

from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store.repos import RunRepo

#: Developers may do anything with apps, except on prod.
POLICY = ARGO_POLICY + (
    "p, role:developer, applications, *, */*, allow\np, role:developer, applications, *, prod/*, deny\n"
)
PRIVATE_URL = "https://prod-private.example.com:6443"
PROD_ARN = "arn:aws:eks:eu-west-1:210000000002:cluster/prod"
NOWHERE = "https://10.99.0.1:6443"


def _create_app(
    sandbox: SandboxWorld, name: str, *, server: str | None = None, cluster: str | None = None
) -> None:
    """What an Argo CD admin does with `kubectl apply`: an Application on dev's Argo CD."""
    destination: dict[str, Any] = {"server": server} if server else {"name": cluster}
    destination["namespace"] = "web"
    app = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/platform/deploy.git", "path": f"apps/{name}"},
            "destination": destination,
        },
    }
    sandbox.kube["dev"].store.create(GROUP, VERSION, "applications", ARGOCD_NAMESPACE, app)


@pytest.fixture
def destinations(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    """Argo CD on `dev`; `prod` (bound to the prod channel) also known by a private URL and an ARN."""
    clusters = [
        {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE},
        {
            "name": "prod",
            "auth": token_auth(sandbox, "prod"),
            "channels": [PROD_CHANNEL],
            "server_urls": [PRIVATE_URL],
            "aliases": [PROD_ARN],
        },
    ]
    with running_bot(tmp_path, sandbox, policy=POLICY, clusters=clusters) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def _line(reply_text: str, app: str) -> str:
    return next((line for line in reply_text.splitlines() if f"`{app}`" in line), "")


def test_destinations_by_server_url_fall_under_a_deny_on_prod(
    destinations: Tier, sandbox: SandboxWorld
) -> None:
    tier = destinations
    prod_url = sandbox.clusters["prod"]["api_url"]
    _create_app(sandbox, "web-by-url", server=prod_url)
    # the same server, spelled otherwise (case, default port, trailing slash), and by config
    _create_app(sandbox, "web-by-spelling", server=prod_url.upper().replace("HTTP://", "http://") + "/")
    _create_app(sandbox, "web-by-private-url", server=PRIVATE_URL.upper() + "/")
    _create_app(sandbox, "web-by-arn", cluster=PROD_ARN)

    for app in ("web-by-url", "web-by-spelling", "web-by-private-url", "web-by-arn"):
        reply = tier.do(DEV, f"sync {app}")
        assert f"There is no application `{app}` that you may `sync`" in reply.text, reply.text
        audit = tier.last_audit(DEV)
        assert (audit.command, audit.decision, audit.result, audit.object) == (
            "sync",
            "deny",
            "refused",
            f"prod/default/{app}",
        )
        assert "operation" not in tier.app(app)
        shown = tier.do(DEV, f"app {app}")
        assert f"There is no application `{app}`" in shown.text

    # the developer's own apps still answer: the deny is on prod only
    assert "requested" in tier.do(DEV, "sync shop-dev --dry-run").text


def test_destinations_by_server_url_keep_prods_channel_binding(
    destinations: Tier, sandbox: SandboxWorld
) -> None:
    tier = destinations
    _create_app(sandbox, "api-by-url", server=sandbox.clusters["prod"]["api_url"])

    refused = tier.do(ADMIN, "sync api-by-url", channel=OPS_CHANNEL)

    assert f"accepted only in <#{PROD_CHANNEL}>" in refused.text and "`prod`" in refused.text
    audit = tier.last_audit(ADMIN)
    assert (audit.decision, audit.result, audit.object) == ("allow", "refused", "prod/default/api-by-url")
    assert "operation" not in tier.app("api-by-url")

    done = tier.do(ADMIN, "sync api-by-url", channel=PROD_CHANNEL)
    assert "Sync of `api-by-url` on `prod` requested" in done.text, done.text
    assert tier.last_audit(ADMIN).result == "ok"


def test_destinations_unmapped_server_url_is_refused_for_every_write(
    destinations: Tier, sandbox: SandboxWorld
) -> None:
    tier = destinations
    _create_app(sandbox, "web-nowhere", server=NOWHERE + "/")

    for command, channel in (
        ("sync web-nowhere", OPS_CHANNEL),
        ("sync web-nowhere", PROD_CHANNEL),
        ("rollback web-nowhere", OPS_CHANNEL),
    ):
        refused = tier.do(ADMIN, command, channel=channel)
        assert f"deploys to `{NOWHERE}/`" in refused.text, refused.text
        assert "not one of this bot's clusters" in refused.text and "`server_urls`" in refused.text
        audit = tier.last_audit(ADMIN)
        assert (audit.command, audit.decision, audit.result) == (command.split()[0], "deny", "refused")
        assert audit.object == "*/default/web-nowhere" and NOWHERE in audit.detail
    assert "operation" not in tier.app("web-nowhere")

    # reading it needs `*` clusters and no deny on any configured one: the admin may, the
    # developer (denied on prod, which it might be) may not, and hears "no such app"
    assert "web-nowhere" in tier.do(ADMIN, "app web-nowhere").text
    for command in ("app web-nowhere", "sync web-nowhere"):
        hidden = tier.do(DEV, command)
        assert "There is no application `web-nowhere`" in hidden.text and NOWHERE not in hidden.text


def test_destinations_unmapped_name_is_refused_naming_aliases(
    destinations: Tier, sandbox: SandboxWorld
) -> None:
    tier = destinations
    _create_app(sandbox, "web-staging", cluster="staging")
    _create_app(sandbox, "web-shouting", cluster="staging <!here>")

    refused = tier.do(ADMIN, "sync web-staging")

    assert "deploys to `staging`" in refused.text and "`aliases`" in refused.text
    assert tier.last_audit(ADMIN).result == "refused"
    # the name comes from the Application: shown escaped, it pings nobody
    shouting = tier.do(ADMIN, "sync web-shouting").text
    assert "deploys to `staging &lt;!here&gt;`" in shouting and "<!here>" not in shouting


def test_destinations_apps_shows_the_mapping(destinations: Tier, sandbox: SandboxWorld) -> None:
    tier = destinations
    _create_app(sandbox, "list-by-url", server=sandbox.clusters["prod"]["api_url"])
    _create_app(sandbox, "list-by-arn", cluster=PROD_ARN)
    _create_app(sandbox, "list-in-cluster", server="https://kubernetes.default.svc")
    _create_app(sandbox, "list-nowhere", server=NOWHERE)

    listed = tier.do(ADMIN, "apps").text

    assert "default → prod/web" in _line(listed, "list-by-url")
    assert "default → prod/web" in _line(listed, "list-by-arn")
    assert "default → dev/web" in _line(listed, "list-in-cluster")  # Argo CD's own cluster: dev
    assert f"default → unmapped destination {NOWHERE} (web)" in _line(listed, "list-nowhere")

    on_prod = tier.do(ADMIN, "apps --cluster prod").text
    assert _line(on_prod, "list-by-url") and _line(on_prod, "list-by-arn")
    assert not _line(on_prod, "list-nowhere") and not _line(on_prod, "list-in-cluster")

    # the developer sees dev's apps, and neither prod's (denied) nor the unmapped one
    mine = tier.do(DEV, "apps").text
    assert _line(mine, "list-in-cluster") and _line(mine, "shop-dev")
    assert (
        not _line(mine, "list-by-url") and not _line(mine, "list-by-arn") and not _line(mine, "list-nowhere")
    )


def test_destinations_by_eks_endpoint_learned_from_describe_cluster(
    tmp_path: Path, sandbox: SandboxWorld
) -> None:
    """prod reached through EKS: its endpoint (DescribeCluster's, https) is how Argo CD names it."""
    eks = sandbox.clusters["prod"]["eks"]
    clusters = [
        {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE},
        {
            "name": "prod",
            "channels": [PROD_CHANNEL],
            "auth": {
                "kind": "eks",
                "cluster_name": eks["cluster_name"],
                "region": eks["region"],
                "role_arn": eks["role_arn"],
                "endpoint_url": sandbox.aws.endpoint_url,
            },
        },
    ]
    _create_app(sandbox, "eks-by-endpoint", server=sandbox.clusters["prod"]["https_url"])
    with running_bot(tmp_path, sandbox, policy=POLICY, clusters=clusters) as world:
        tier = Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))

        assert "default → prod/web" in _line(tier.do(ADMIN, "apps").text, "eks-by-endpoint")
        refused = tier.do(DEV, "sync eks-by-endpoint")
        assert "There is no application `eks-by-endpoint`" in refused.text
        assert tier.last_audit(DEV).object == "prod/default/eks-by-endpoint"
        bound = tier.do(ADMIN, "sync eks-by-endpoint", channel=OPS_CHANNEL)
        assert f"accepted only in <#{PROD_CHANNEL}>" in bound.text
        assert "operation" not in tier.app("eks-by-endpoint")

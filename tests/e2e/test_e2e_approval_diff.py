"""A rollback's approval card shows Argo CD's manifest diff, read from the Argo CD API stand-in.

The sandbox's Argo CD runs on `dev`; `shop-dev` (seeded: v1.4.0 then v1.5.0 deployed) gets a
new target, v1.6.0, and is refreshed, so it is OutOfSync with its Deployment's image moving.
The real bot is configured with `argocd.server_url` (the stand-in) and ARGOCD_AUTH_TOKEN in its
environment; a developer types `/ops rollback shop-dev` and the card in the channel is read as
a person would read it. With a wrong token the card is posted all the same, without a diff.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from e2e_world import BASE_POLICY, DEV, OPS_CHANNEL, PROD_CHANNEL, World, running_bot, token_auth
from e2e_world import message_text as _text
from kubernetes import client

from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld

APP = "shop-dev"
G, V = "argoproj.io", "v1alpha1"
POLICY = BASE_POLICY + (
    "p, role:developer, applications, get, dev/*, allow\n"
    "p, role:developer, applications, rollback, dev/*, allow\n"
)


@pytest.fixture(scope="module")
def drifted(sandbox: SandboxWorld) -> dict[str, Any]:
    """`shop-dev` with a new target (v1.6.0), refreshed as Argo CD would: OutOfSync. Returns the app."""
    api_client = build_api_client(url=sandbox.kube["dev"].url, token=sandbox.clusters["dev"]["token"])
    try:
        custom = client.CustomObjectsApi(api_client)
        custom.patch_namespaced_custom_object(
            G, V, ARGOCD_NAMESPACE, "applications", APP, {"spec": {"source": {"targetRevision": "v1.6.0"}}}
        )
    finally:
        api_client.close()  # type: ignore[no-untyped-call]  # kubernetes' ApiClient.close is unannotated
    assert sandbox.app_controller is not None
    app = sandbox.app_controller.replay(APP, [], namespace=ARGOCD_NAMESPACE)  # no sync: a refresh
    assert app["status"]["sync"]["status"] == "OutOfSync"
    return app


def _bot(tmp_path: Path, sandbox: SandboxWorld, *, token: str) -> AbstractContextManager[World]:
    clusters = [
        {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE},
        {"name": "prod", "auth": token_auth(sandbox, "prod"), "channels": [PROD_CHANNEL]},
    ]
    server_url = sandbox.describe()["argocd_api"]["server_url"]
    return running_bot(
        tmp_path,
        sandbox,
        policy=POLICY,
        clusters=clusters,
        argocd={"server_url": server_url},
        environ={"ARGOCD_AUTH_TOKEN": token},
    )


def _rollback_card(world: World) -> str:
    """Ask for the rollback as the developer; the text of the card it posts in the channel."""
    before = len(world.driver.messages(OPS_CHANNEL))
    answer = world.command(DEV, f"rollback {APP}")
    assert "requested" in str(answer.get("text")), answer

    def card() -> str | None:
        for message in world.driver.messages(OPS_CHANNEL)[before:]:
            text = _text(message)
            if "What will change" in text and APP in text:
                return text
        return None

    found: str = world.driver.wait_for(card, timeout=30, message="the rollback's approval card")
    return found


def _revisions(app: dict[str, Any]) -> tuple[str, str]:
    """From (deployed) and To (the entry before it) as the card shows them: short SHAs."""
    history = app["status"]["history"]
    return app["status"]["sync"]["revision"][:7], history[-2]["revision"][:7]


@pytest.fixture
def good_token(sandbox: SandboxWorld) -> str:
    token: str = sandbox.describe()["argocd_api"]["auth_token"]
    return token


def test_the_rollback_card_shows_the_manifest_diff(
    tmp_path: Path, sandbox: SandboxWorld, drifted: dict[str, Any], good_token: str
) -> None:
    with _bot(tmp_path, sandbox, token=good_token) as world:
        card = _rollback_card(world)

    deployed, previous = _revisions(drifted)
    assert f"From `{deployed}` → To `{previous}`" in card, card
    assert "Deployment/shop/shop" in card  # the out-of-sync resource, from the Application
    lines = card.splitlines()
    assert "--- live/Deployment/shop/shop" in lines, card
    assert "-      - image: shop:v1.5.0" in lines, card
    assert "+      - image: shop:v1.6.0" in lines, card
    assert good_token not in card


def test_with_a_wrong_token_the_card_is_posted_without_a_diff(
    tmp_path: Path, sandbox: SandboxWorld, drifted: dict[str, Any]
) -> None:
    with _bot(tmp_path, sandbox, token="not-the-argocd-token") as world:
        card = _rollback_card(world)

    deployed, previous = _revisions(drifted)
    assert f"From `{deployed}` → To `{previous}`" in card, card
    assert "Deployment/shop/shop" in card  # the resource list does not need the API server
    assert "image:" not in card and "```" not in card, card
    assert "not-the-argocd-token" not in card

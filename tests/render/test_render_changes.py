""" "What will change" on an approval card: the Application's pending changes, the Git host's
comparison link, and the blocks, which stay within Slack's limits and escape everything upstream.

Limits are checked with the Slack stand-in's validator (the checks Slack applies).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render.blocks import MAX_SECTION_TEXT
from bot.render.changes import (
    MAX_RESOURCE_LINES,
    Changes,
    ResourceChange,
    changes_blocks,
    compare_url,
    link,
    pending_changes,
)
from bot.render.mrkdwn import MAX_TOTAL_TEXT
from bot.sandbox.slack.blocks import check_message_blocks, combined_text_length

OLD = "abc1234567890abcdef1234567890abcdef12345"
NEW = "def5678901234567890abcdef1234567890abcde"
# a link the renderer made: <http(s)://no-markup|label without markup>
_LINK = re.compile(r"<https?://[^\s<>|]+\|[^<>|]*>")


def _resource(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "group": "apps" if kind == "Deployment" else "",
        "version": "v1",
        "kind": kind,
        "namespace": "web",
        "name": name,
        "status": "OutOfSync",
        "health": {"status": "Healthy"},
        **extra,
    }


APP: dict[str, Any] = {
    "metadata": {"name": "shop", "namespace": "argocd"},
    "status": {
        "sync": {
            "status": "OutOfSync",
            "revision": OLD,
            "comparedTo": {
                "source": {
                    "repoURL": "https://github.com/acme/shop-deploy.git",
                    "targetRevision": "main",
                    "path": "overlays/prod",
                },
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            },
        },
        "resources": [
            _resource("Deployment", "shop"),
            _resource("Service", "shop", status="Synced"),
            _resource("ConfigMap", "shop-env", health={"status": "Missing"}),
            _resource("ConfigMap", "legacy", requiresPruning=True, health=None),
            {**_resource("ClusterRole", "shop-reader"), "namespace": ""},
            "not a resource",
        ],
    },
}


def _texts(item: Any) -> list[str]:
    if isinstance(item, dict):
        found = [v for k, v in item.items() if k == "text" and isinstance(v, str)]
        return found + [t for k, v in item.items() if k != "text" for t in _texts(v)]
    if isinstance(item, list):
        return [t for value in item for t in _texts(value)]
    return []


def _assert_safe(blocks: list[dict[str, Any]]) -> None:
    """Within Slack's limits, and no `<`/`>` but in the links the renderer made."""
    assert check_message_blocks(blocks) == []
    assert combined_text_length(blocks) <= MAX_TOTAL_TEXT
    for text in _texts(blocks):
        assert len(text) <= MAX_SECTION_TEXT
        assert "<!channel>" not in text and "<!here>" not in text
        outside = _LINK.sub("", text)
        assert "<" not in outside and ">" not in outside, text


# -- pending_changes ---------------------------------------------------------------------------------


def test_pending_changes_reads_out_of_sync_pruned_and_revisions() -> None:
    changes = pending_changes(APP)
    assert [r.ref for r in changes.out_of_sync] == [
        "Deployment/web/shop",
        "ConfigMap/web/shop-env",
        "ClusterRole/shop-reader",
    ]
    assert [r.ref for r in changes.to_prune] == ["ConfigMap/web/legacy"]
    assert changes.out_of_sync[0] == ResourceChange(
        group="apps",
        version="v1",
        kind="Deployment",
        namespace="web",
        name="shop",
        status="OutOfSync",
        health="Healthy",
    )
    assert changes.out_of_sync[1].is_new and not changes.out_of_sync[0].is_new
    assert changes.to_prune[0].requires_pruning and changes.to_prune[0].health == ""
    assert changes.deployed_revision == OLD
    assert (changes.repo_url, changes.target_revision, changes.path) == (
        "https://github.com/acme/shop-deploy.git",
        "main",
        "overlays/prod",
    )


@pytest.mark.parametrize("app", [{}, {"status": None}, {"status": {"resources": "x", "sync": []}}])
def test_pending_changes_of_an_odd_object_is_empty(app: dict[str, Any]) -> None:
    assert pending_changes(app) == Changes()
    assert pending_changes(app).is_empty


# -- compare_url -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        ("https://github.com/acme/shop.git", f"https://github.com/acme/shop/compare/{OLD}...{NEW}"),
        ("https://github.com/acme/shop", f"https://github.com/acme/shop/compare/{OLD}...{NEW}"),
        ("git@github.com:acme/shop.git", f"https://github.com/acme/shop/compare/{OLD}...{NEW}"),
        ("ssh://git@github.com/acme/shop.git", f"https://github.com/acme/shop/compare/{OLD}...{NEW}"),
        (
            "https://gitlab.com/acme/infra/shop.git",
            f"https://gitlab.com/acme/infra/shop/-/compare/{OLD}...{NEW}",
        ),
        (
            "ssh://git@gitlab.internal.example:2222/acme/shop.git",
            f"https://gitlab.internal.example/acme/shop/-/compare/{OLD}...{NEW}",
        ),
        (
            "https://gitlab.example.com:8443/acme/shop",
            f"https://gitlab.example.com:8443/acme/shop/-/compare/{OLD}...{NEW}",
        ),
        (
            "git@bitbucket.org:acme/shop.git",
            f"https://bitbucket.org/acme/shop/branches/compare/{NEW}%0D{OLD}#diff",
        ),
        (
            "https://dev.azure.com/acme/web/_git/shop",
            f"https://dev.azure.com/acme/web/_git/shop/branchCompare?baseVersion=GC{OLD}&targetVersion=GC{NEW}",
        ),
        (
            "git@ssh.dev.azure.com:v3/acme/web/shop",
            f"https://dev.azure.com/acme/web/_git/shop/branchCompare?baseVersion=GC{OLD}&targetVersion=GC{NEW}",
        ),
    ],
)
def test_compare_url_for_known_hosts(repo: str, expected: str) -> None:
    assert compare_url(repo, OLD, NEW) == expected


@pytest.mark.parametrize(
    ("repo", "old", "new"),
    [
        ("https://git.example.com/acme/shop.git", OLD, NEW),  # unknown host
        ("https://github.com/acme/shop.git", "", NEW),
        ("https://github.com/acme/shop.git", OLD, "  "),
        ("https://github.com/acme", OLD, NEW),  # no repository
        ("https://github.com/acme/shop|x/y", OLD, NEW),
        ("https://github.com/ac<me/shop", OLD, NEW),
        ("javascript:alert(1)//github.com/acme/shop", OLD, NEW),
        ("https://dev.azure.com/acme/web/_git/shop", "v1.0", "v1.1"),  # Azure: commits only
        ("", OLD, NEW),
    ],
)
def test_compare_url_is_none_when_unknown_or_unsafe(repo: str, old: str, new: str) -> None:
    assert compare_url(repo, old, new) is None


def test_compare_url_encodes_revisions_so_no_markup_survives() -> None:
    url = compare_url("https://github.com/acme/shop", "v1.0|<!channel>", "feature/x&y z>")
    assert url == "https://github.com/acme/shop/compare/v1.0%7C%3C%21channel%3E...feature/x%26y%20z%3E"


def test_link_escapes_ampersands_and_refuses_other_schemes() -> None:
    assert link("https://a.example/x?a=1&b=<2>|3", "See") == "<https://a.example/x?a=1&amp;b=%3C2%3E%7C3|See>"
    assert link("javascript:alert(1)", "See") is None
    assert link("https://a.example/" + "x" * 2000, "See") is None
    assert link(None, "See") is None


# -- changes_blocks ----------------------------------------------------------------------------------


def test_blocks_show_revisions_compare_link_and_resources() -> None:
    changes = pending_changes(APP)
    blocks = changes_blocks(
        changes, from_revision=OLD, to_revision=NEW, repo_url=changes.repo_url, manifest_diff=None
    )
    _assert_safe(blocks)
    assert len(blocks) == 2
    head = blocks[0]["text"]["text"]
    assert "From `abc1234` → To `def5678`" in head
    assert f"<https://github.com/acme/shop-deploy/compare/{OLD}...{NEW}|Compare>" in head
    listed = blocks[1]["text"]["text"].split("\n")
    assert listed[0] == "*Resources:* 3 out of sync, 1 to be deleted (pruned)"
    assert listed[1] == ":wastebasket: `ConfigMap/web/legacy` _will be deleted_"
    assert listed[2:] == [
        ":pencil2: `Deployment/web/shop`",
        ":new: `ConfigMap/web/shop-env` _will be created_",
        ":pencil2: `ClusterRole/shop-reader`",
    ]


def test_tags_stay_whole_and_no_link_for_unknown_hosts() -> None:
    blocks = changes_blocks(
        Changes(), from_revision="v1.4.0", to_revision="v1.5.0", repo_url="https://git.example.com/a/b"
    )
    _assert_safe(blocks)
    assert blocks[0]["text"]["text"] == "*What will change*\nFrom `v1.4.0` → To `v1.5.0`"
    assert blocks[1]["text"]["text"] == "_Argo CD reports no resource out of sync._"
    blocks = changes_blocks(Changes(), from_revision="", to_revision="v2", repo_url=None)
    assert blocks[0]["text"]["text"] == "*What will change*\nFrom _unknown_ → To `v2`"


def test_many_resources_are_capped_with_a_count() -> None:
    items = tuple(
        ResourceChange(
            group="", version="v1", kind="ConfigMap", namespace="web", name=f"cm-{i}", status="OutOfSync"
        )
        for i in range(40)
    )
    blocks = changes_blocks(Changes(out_of_sync=items), from_revision=OLD, to_revision=NEW, repo_url=None)
    _assert_safe(blocks)
    lines = blocks[1]["text"]["text"].split("\n")
    assert len(lines) == 1 + MAX_RESOURCE_LINES + 1
    assert lines[-1] == f"_…and {40 - MAX_RESOURCE_LINES} more_"


def test_a_short_diff_is_shown_whole_and_escaped() -> None:
    diff = (
        "--- live/Deployment/web/shop\n+++ target/Deployment/web/shop\n"
        "-  image: a:1\n+  image: a:2 <!channel> & ```x"
    )
    blocks = changes_blocks(
        Changes(),
        from_revision=OLD,
        to_revision=NEW,
        repo_url=None,
        manifest_diff=diff,
        diff_url="https://cd/x",
    )
    _assert_safe(blocks)
    assert len(blocks) == 3  # no truncation note
    text = blocks[2]["text"]["text"]
    assert text.startswith("```\n--- live/Deployment/web/shop\n") and text.endswith("\n```")
    assert "+  image: a:2 &lt;!channel&gt; &amp; `\u200b`\u200b`\u200bx" in text
    assert text.count("```") == 2


def test_a_long_diff_is_cut_at_a_line_and_links_the_full_diff() -> None:
    diff = "\n".join(f"+  key{i}: {'v' * 60}" for i in range(200))
    blocks = changes_blocks(
        Changes(),
        from_revision=OLD,
        to_revision=NEW,
        repo_url=None,
        manifest_diff=diff,
        diff_url="https://argocd.example.com/applications/argocd/shop?view=tree&resource=&node=x",
    )
    _assert_safe(blocks)
    body = blocks[2]["text"]["text"]
    assert body.endswith("\n```") and len(body) < MAX_SECTION_TEXT
    assert all(line.startswith(("+  key", "```")) for line in body.split("\n"))
    note = blocks[3]["elements"][0]["text"]
    assert note == (
        "<https://argocd.example.com/applications/argocd/shop?view=tree&amp;resource=&amp;node=x"
        "|(truncated: see the full diff)>"
    )
    plain = changes_blocks(Changes(), from_revision=OLD, to_revision=NEW, repo_url=None, manifest_diff=diff)
    assert plain[3]["elements"][0]["text"] == "_(truncated)_"


def test_one_enormous_diff_line_is_cut_without_breaking_an_entity() -> None:
    blocks = changes_blocks(
        Changes(), from_revision=OLD, to_revision=NEW, repo_url=None, manifest_diff="+" + "&" * 5000
    )
    _assert_safe(blocks)
    body = blocks[2]["text"]["text"]
    assert re.fullmatch(r"```\n\+(&amp;)+…\n```", body)


# -- properties --------------------------------------------------------------------------------------

_NASTY = st.sampled_from(
    ["<!channel>", "<!here>", "&", "<", ">", "|", "`", "```", "*", "_", "\n", "<@U1>", "é"]
)
_WORDS = st.lists(st.one_of(st.text(max_size=40), _NASTY), max_size=8).map("".join)
_RESOURCES = st.lists(
    st.builds(
        ResourceChange,
        group=st.just(""),
        version=st.just("v1"),
        kind=_WORDS,
        namespace=_WORDS,
        name=_WORDS,
        status=st.just("OutOfSync"),
        health=st.sampled_from(["", "Missing", "Healthy"]),
        requires_pruning=st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    resources=_RESOURCES,
    old=st.one_of(_WORDS, st.just(OLD)),
    new=st.one_of(_WORDS, st.just(NEW)),
    repo=st.one_of(
        st.none(), _WORDS, st.just("git@github.com:acme/shop.git"), st.just("https://gitlab.x/a/b")
    ),
    diff=st.one_of(st.none(), st.lists(_WORDS, max_size=400).map("\n".join)),
    diff_url=st.one_of(st.none(), _WORDS.map(lambda w: "https://cd.example/" + w)),
)
def test_any_input_stays_within_limits_and_escaped(
    resources: list[ResourceChange],
    old: str,
    new: str,
    repo: str | None,
    diff: str | None,
    diff_url: str | None,
) -> None:
    changes = Changes(
        out_of_sync=tuple(r for r in resources if not r.requires_pruning),
        to_prune=tuple(r for r in resources if r.requires_pruning),
    )
    blocks = changes_blocks(
        changes, from_revision=old, to_revision=new, repo_url=repo, manifest_diff=diff, diff_url=diff_url
    )
    _assert_safe(blocks)
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        if text.startswith("```"):
            assert text.endswith("\n```") and text.count("```") == 2


@settings(max_examples=200, deadline=None)
@given(repo=_WORDS, old=_WORDS, new=_WORDS)
def test_compare_url_never_carries_markup(repo: str, old: str, new: str) -> None:
    for candidate in (repo, f"https://github.com/{repo}", f"git@gitlab.com:{repo}"):
        url = compare_url(candidate, old, new)
        if url is not None:
            assert url.startswith("https://")
            assert not set(url) & set("<>| \t\n`"), url
            assert link(url, "Compare") is None or _LINK.fullmatch(link(url, "Compare") or "")

"""What a sync or rollback is about to change, as blocks for its approval card. Pure.

An approver should see what they approve: the revision the app is on and the one it goes to
(with a link to the Git host's comparison of the two), the resources Argo CD reports out of
sync and the ones it will delete (prune), and, when the caller has it from Argo CD's API server
(`bot.argo.diff`), the manifest diff itself, cut to fit one Slack section.

`pending_changes` reads an Application object (as `bot.argo.cd` returns it), `compare_url`
builds the Git host's comparison link, `changes_blocks` renders both. Everything that comes
from Argo CD or Git is escaped, so a resource name or a diff line cannot ping anyone or break a
link, and the blocks stay within Slack's limits whatever the input. Left out: multi-source
applications (`status.sync.comparedTo.sources`), which show no source here. The approval card
itself (`bot.render.approvals`) decides where these blocks go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bot.render import mrkdwn
from bot.render.blocks import MAX_SECTION_TEXT, Block, context, section

MAX_RESOURCE_LINES = 15
MAX_REF = 120  # one resource's Kind/namespace/name, before escaping
MAX_DIFF_TEXT = 2_600  # the diff's escaped text: a section holds 3,000 with the fences and a margin
MAX_DIFF_LINE = 300  # a longer diff line (a base64 blob, a long annotation) is cut
SHORT_SHA = 7
MAX_LINK_URL = 1_000  # a longer link (a huge revision name) is left out rather than cut mid-link
TRUNCATED = "(truncated: see the full diff)"

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")
# Slack reads `<`, `>` and `|` inside a link, `&` starts an entity; whitespace ends a URL.
_URL_UNSAFE = {"<": "%3C", ">": "%3E", "|": "%7C", " ": "%20", "\t": "%09", "\n": "%0A", "\r": "%0D"}


@dataclass(frozen=True)
class ResourceChange:
    """One resource of `status.resources[]` that a sync would touch."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    status: str
    health: str = ""
    requires_pruning: bool = False

    @property
    def ref(self) -> str:
        """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped resource."""
        parts = [self.kind or "?", self.namespace, self.name or "?"]
        return "/".join(part for part in parts if part)

    @property
    def is_new(self) -> bool:
        """Out of sync and absent from the cluster: the sync creates it."""
        return self.health == "Missing"


@dataclass(frozen=True)
class Changes:
    """What Argo CD says a sync of an app would change.

    `out_of_sync` holds the resources a sync creates or updates; `to_prune` those it deletes
    (Argo CD reports them OutOfSync too, with `requiresPruning`; they are not repeated in
    `out_of_sync`). The revisions and source are as Argo CD last compared them.
    """

    out_of_sync: tuple[ResourceChange, ...] = ()
    to_prune: tuple[ResourceChange, ...] = ()
    deployed_revision: str = ""
    repo_url: str = ""
    target_revision: str = ""
    path: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.out_of_sync and not self.to_prune


def pending_changes(app: Mapping[str, Any]) -> Changes:
    """The out-of-sync and to-be-pruned resources of an Argo CD Application, and its revisions.

    Tolerates any shape (missing or mistyped fields read as empty), since the object comes
    from the cluster and a card must still render.
    """
    status = _mapping(app.get("status"))
    sync = _mapping(status.get("sync"))
    source = _mapping(_mapping(sync.get("comparedTo")).get("source"))
    out_of_sync: list[ResourceChange] = []
    to_prune: list[ResourceChange] = []
    resources = status.get("resources")
    for item in resources if isinstance(resources, list) else ():
        if not isinstance(item, Mapping):
            continue
        change = ResourceChange(
            group=_text(item.get("group")),
            version=_text(item.get("version")),
            kind=_text(item.get("kind")),
            namespace=_text(item.get("namespace")),
            name=_text(item.get("name")),
            status=_text(item.get("status")),
            health=_text(_mapping(item.get("health")).get("status")),
            requires_pruning=item.get("requiresPruning") is True,
        )
        if change.requires_pruning:
            to_prune.append(change)
        elif change.status == "OutOfSync":
            out_of_sync.append(change)
    return Changes(
        out_of_sync=tuple(out_of_sync),
        to_prune=tuple(to_prune),
        deployed_revision=_text(sync.get("revision")),
        repo_url=_text(source.get("repoURL")),
        target_revision=_text(source.get("targetRevision")),
        path=_text(source.get("path")),
    )


def compare_url(repo_url: str, from_revision: str, to_revision: str) -> str | None:
    """The Git host's page comparing two revisions, or None for an unknown host or empty revision.

    Known: github.com, GitLab (gitlab.com and any host whose name contains `gitlab`),
    bitbucket.org, and Azure DevOps (dev.azure.com, commit SHAs only, since its links must say
    whether a revision is a commit, a tag or a branch). `repo_url` may be `https://host/o/r(.git)`,
    `git@host:o/r.git` or `ssh://git@host[:port]/o/r.git`. Revisions are percent-encoded and the
    repository path must be plain, so the result never holds `<`, `>`, `|` or whitespace; it may
    hold `&` (Azure DevOps), which `link` escapes when it goes into mrkdwn.
    """
    old, new = from_revision.strip(), to_revision.strip()
    parsed = _repo(repo_url)
    if parsed is None or not old or not new:
        return None
    host, segments = parsed
    name = host.split(":", 1)[0].lower()
    base = f"https://{host}/{'/'.join(segments)}"
    a, b = _rev(old), _rev(new)
    if name == "github.com" and len(segments) == 2:
        return f"{base}/compare/{a}...{b}"
    if "gitlab" in name and len(segments) >= 2:
        return f"{base}/-/compare/{a}...{b}"
    if name == "bitbucket.org" and len(segments) == 2:
        # Bitbucket Cloud names the newer revision first, separated by an encoded carriage return.
        return f"{base}/branches/compare/{b}%0D{a}#diff"
    if name in ("dev.azure.com", "ssh.dev.azure.com"):
        return _azure_compare(segments, old, new)
    return None


def link(url: str | None, label: str) -> str | None:
    """A mrkdwn link `<url|label>` that no character of `url` or `label` can break, or None.

    Only http(s) URLs: anything else would not be clickable, and a `javascript:` URL has no
    business on a card. None too past `MAX_LINK_URL` characters, so a section is never cut
    inside a link.
    """
    if not url or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    safe = "".join(_URL_UNSAFE.get(char, char) for char in url).replace("&", "&amp;")
    if len(safe) > MAX_LINK_URL:
        return None
    return f"<{safe}|{mrkdwn.escape(label).replace('|', '¦')}>"


def changes_blocks(
    changes: Changes,
    *,
    from_revision: str,
    to_revision: str,
    repo_url: str | None,
    manifest_diff: str | None = None,
    diff_url: str | None = None,
) -> list[Block]:
    """The "what will change" blocks of an approval card.

    Args:
        changes: from `pending_changes` on the app as it is now.
        from_revision: what is deployed (usually `changes.deployed_revision`).
        to_revision: what the sync or rollback goes to.
        repo_url: the app's Git repository, for the comparison link; None for no link.
        manifest_diff: a unified diff of the manifests (`bot.argo.diff.unified_diff`), if known.
        diff_url: where the full diff can be read (the app's diff in the Argo CD UI), shown when
            the diff had to be cut.
    """
    line = f"*What will change*\nFrom {_revision(from_revision)} → To {_revision(to_revision)}"
    compare = link(compare_url(repo_url, from_revision, to_revision) if repo_url else None, "Compare")
    if compare:
        line += f" · {compare}"
    blocks = [section(line), section(_resource_text(changes))]
    if manifest_diff is not None and manifest_diff.strip():
        body, cut = _diff_body(manifest_diff)
        blocks.append(section(f"```\n{body}\n```"))
        if cut:
            more = link(diff_url, TRUNCATED)
            blocks.append(context(more or "_(truncated)_"))
    return blocks


# -- pieces ----------------------------------------------------------------------------------------


def _resource_text(changes: Changes) -> str:
    """Pruned resources first (deleting is what an approver most needs to see), then the rest."""
    if changes.is_empty:
        return "_Argo CD reports no resource out of sync._"
    counts = [f"{len(changes.out_of_sync)} out of sync"]
    if changes.to_prune:
        counts.append(f"{len(changes.to_prune)} to be deleted (pruned)")
    lines = [_resource_line(item, prune=True) for item in changes.to_prune]
    lines += [_resource_line(item, prune=False) for item in changes.out_of_sync]
    head = f"*Resources:* {', '.join(counts)}"
    budget = MAX_SECTION_TEXT - len(head) - 100  # room for the "…and N more" line
    kept: list[str] = []
    for row in lines[:MAX_RESOURCE_LINES]:
        if sum(len(item) + 1 for item in kept) + len(row) + 1 > budget:
            break
        kept.append(row)
    hidden = len(lines) - len(kept)
    if hidden:
        kept.append(f"_…and {hidden} more_")
    return "\n".join([head, *kept])


def _resource_line(item: ResourceChange, *, prune: bool) -> str:
    name = mrkdwn.code(item.ref, limit=MAX_REF)
    if prune:
        return f":wastebasket: {name} _will be deleted_"
    if item.is_new:
        return f":new: {name} _will be created_"
    return f":pencil2: {name}"


def _diff_body(diff: str) -> tuple[str, bool]:
    """The diff escaped for a code block, whole lines within `MAX_DIFF_TEXT`; True when cut.

    Escaping happens before measuring (an `&` becomes five characters), and a run of backticks
    is broken with zero-width spaces so it cannot close the code block early.
    """
    kept: list[str] = []
    used = 0
    lines = diff.rstrip("\n").split("\n")
    for raw in lines:
        text = _escaped_prefix(raw, MAX_DIFF_LINE)
        if used + len(text) + 1 > MAX_DIFF_TEXT:
            return "\n".join(kept), True
        kept.append(text)
        used += len(text) + 1
    return "\n".join(kept), False


def _escaped_prefix(text: str, limit: int) -> str:
    """The longest start of `text` whose escaped form fits `limit`, with `…` when cut."""
    out = mrkdwn.escape(text).replace("`", "`\u200b")
    if len(out) <= limit:
        return out
    pieces: list[str] = []
    used = 0
    for char in text:
        piece = mrkdwn.escape(char).replace("`", "`\u200b")
        if used + len(piece) > limit - 1:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces) + "…"


def _revision(revision: str) -> str:
    """A commit SHA cut to 7 characters, as `git log --oneline` shows it; tags and branches whole."""
    value = revision.strip()
    if not value:
        return "_unknown_"
    return mrkdwn.code(value[:SHORT_SHA] if _SHA.fullmatch(value) else value)


def _repo(repo_url: str) -> tuple[str, list[str]] | None:
    """The web host (with port for https) and path segments of a Git remote, or None."""
    url = repo_url.strip()
    scp = re.fullmatch(r"[A-Za-z0-9._-]+@([^:/]+):(?!//)(.+)", url)
    if scp:
        host, path = scp.group(1), scp.group(2)
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if parts.scheme not in ("https", "http", "ssh") or not parts.hostname:
            return None
        host = parts.hostname
        if parts.scheme != "ssh" and port is not None:
            host = f"{host}:{port}"
        path = parts.path
    segments = [segment for segment in path.strip("/").split("/") if segment]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
    if not _HOST.fullmatch(host) or not segments or not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    return host, segments


def _azure_compare(segments: Sequence[str], old: str, new: str) -> str | None:
    """dev.azure.com/org/project/_git/repo, or ssh.dev.azure.com:v3/org/project/repo."""
    if not (_SHA.fullmatch(old) and _SHA.fullmatch(new)):
        return None
    if len(segments) == 4 and segments[0] == "v3":
        org, project, repo = segments[1], segments[2], segments[3]
    elif len(segments) == 4 and segments[2] == "_git":
        org, project, repo = segments[0], segments[1], segments[3]
    else:
        return None
    return (
        f"https://dev.azure.com/{org}/{project}/_git/{repo}/branchCompare"
        f"?baseVersion=GC{old}&targetVersion=GC{new}"
    )


def _rev(revision: str) -> str:
    return quote(revision, safe="/")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""

"""Where the policy comes from, and keeping it current while the bot runs.

The policy is merged, always in this order, from: the built-in policy shipped with the
package, `rbac.admin_subjects` (each gets `role:admin`), the inline `rbac.policy` text of the
config file, and the `rbac.policy_file` file. Both files are re-read when they change (mtime,
size or inode, checked at most every `check_interval` seconds), which is how a ConfigMap
update reaches a running bot without a restart. A broken edit is logged with every problem
and the last good policy stays in force; at start-up a broken policy is a `ConfigError`.

It leaves parsing to `bot.rbac.policy` and decisions to `bot.rbac.enforcer`. Built by
`app` at start-up and by `chatops policy can` / `chatops check`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.config import RbacSettings, Settings, load_settings
from bot.errors import ConfigError
from bot.rbac import policy as policy_mod
from bot.rbac.enforcer import Enforcer

log = logging.getLogger(__name__)

BUILTIN_SOURCE = "builtin policy"
ADMIN_ROLE = "role:admin"


def builtin_text() -> str:
    """The built-in policy shipped with the package (`role:readonly` and `role:admin`)."""
    return resources.files("bot.rbac").joinpath("builtin_policy.csv").read_text(encoding="utf-8")


@dataclass(frozen=True)
class PolicyPart:
    """One source of policy lines, for `chatops check` and the logs."""

    source: str
    lines: int


def read_policy_file(path: Path) -> str:
    """Read a policy file.

    Raises:
        ConfigError: naming the file when it is missing or unreadable.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: policy file not found (rbac.policy_file)"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: policy file is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: policy file cannot be read ({exc.strerror})"]) from None


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """A cheap fingerprint of the file; None when it cannot be stat'ed (for example, removed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class PolicySource:
    """Holds the current `Enforcer` and swaps in a new one when the policy changes.

    Two files are watched: `rbac.policy_file`, and the config file itself when it is known
    (its `rbac` section may hold the policy inline, the default role and the admin subjects).
    Thread-safe: `current()` may be called from any thread; at most one of them re-reads
    the files at a time.
    """

    def __init__(
        self,
        *,
        inline: str | None = None,
        inline_source: str = "rbac.policy",
        path: Path | None = None,
        default_role: str | None = None,
        admin_subjects: Sequence[str] = (),
        config_path: Path | None = None,
        check_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load the policy once.

        Args:
            config_path: the config file the `rbac` settings came from; when given, edits to its
                `rbac` section are picked up like edits to the policy file.

        Raises:
            ConfigError: listing every problem (source and line number) when the policy is invalid.
        """
        self._inline = inline
        self._inline_source = inline_source
        self._path = path
        self._config_path = config_path
        self._default_role = default_role
        self._admin_subjects = tuple(admin_subjects)
        self._check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._problems: list[str] = []
        file_text = read_policy_file(path) if path is not None else None
        self._stamp = _file_stamp(path) if path is not None else None
        self._config_stamp = _file_stamp(config_path) if config_path is not None else None
        self._file_text = file_text
        self._enforcer, self._parts = self._build(
            inline=inline, admin_subjects=self._admin_subjects, default_role=default_role, file_text=file_text
        )
        self._checked_at = clock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        check_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> PolicySource:
        """Build from `settings.rbac`, resolving the policy file relative to the config file."""
        rbac: RbacSettings = settings.rbac
        prefix = f"{settings.source_path}: " if settings.source_path else ""
        config_path = Path(settings.source_path) if settings.source_path else None
        return cls(
            inline=rbac.policy,
            inline_source=f"{prefix}rbac.policy",
            path=settings.policy_path(),
            default_role=rbac.default_role,
            admin_subjects=rbac.admin_subjects,
            config_path=config_path if config_path is not None and config_path.is_file() else None,
            check_interval=check_interval,
            clock=clock,
        )

    def _build(
        self,
        *,
        inline: str | None,
        admin_subjects: Sequence[str],
        default_role: str | None,
        file_text: str | None,
    ) -> tuple[Enforcer, list[PolicyPart]]:
        named: list[tuple[str, policy_mod.Policy]] = [
            (BUILTIN_SOURCE, policy_mod.parse_policy(builtin_text(), source=BUILTIN_SOURCE)),
            (
                "rbac.admin_subjects",
                policy_mod.grants_for(admin_subjects, role=ADMIN_ROLE, source="rbac.admin_subjects"),
            ),
        ]
        if inline:
            named.append((self._inline_source, policy_mod.parse_policy(inline, source=self._inline_source)))
        if file_text is not None and self._path is not None:
            named.append((str(self._path), policy_mod.parse_policy(file_text, source=str(self._path))))
        parts = [PolicyPart(source=name, lines=part.line_count) for name, part in named]
        enforcer = Enforcer(policy_mod.merge(part for _, part in named), default_role=default_role)
        return enforcer, parts

    @property
    def parts(self) -> list[PolicyPart]:
        """Each source of the policy in force and how many lines it contributed."""
        return list(self._parts)

    @property
    def problems(self) -> list[str]:
        """The problems of the last rejected edit (empty when the last edit was fine)."""
        return list(self._problems)

    def current(self) -> Enforcer:
        """The enforcer for the policy in force, re-reading the files first when due and changed."""
        watched = self._path is not None or self._config_path is not None
        if watched and self._clock() - self._checked_at >= self._check_interval:
            with self._lock:
                if self._clock() - self._checked_at >= self._check_interval:
                    self._refresh()
                    self._checked_at = self._clock()
        return self._enforcer

    def _refresh(self) -> None:
        """Re-read what changed; keep the last good policy on any problem."""
        inline, default_role, admins = self._inline, self._default_role, self._admin_subjects
        file_text = self._file_text
        changed = False
        if self._config_path is not None:
            stamp = _file_stamp(self._config_path)
            if stamp != self._config_stamp:
                self._config_stamp = stamp
                try:
                    # only the rbac section matters here; secrets are not needed to read it
                    rbac = load_settings(self._config_path, {}).rbac
                except ConfigError as exc:
                    self._reject(exc.problems, source=str(self._config_path))
                    return
                fresh = (rbac.policy, rbac.default_role, tuple(rbac.admin_subjects))
                if fresh != (inline, default_role, admins):
                    inline, default_role, admins = fresh
                    changed = True
        if self._path is not None:
            stamp = _file_stamp(self._path)
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    text = read_policy_file(self._path)
                except ConfigError as exc:
                    self._reject(exc.problems, source=str(self._path))
                    return
                if text != file_text:
                    file_text = text
                    changed = True
        if not changed:
            return
        try:
            enforcer, parts = self._build(
                inline=inline, admin_subjects=admins, default_role=default_role, file_text=file_text
            )
        except ConfigError as exc:
            self._reject(exc.problems, source="the policy")
            return
        self._inline, self._default_role, self._admin_subjects = inline, default_role, admins
        self._file_text = file_text
        self._enforcer, self._parts = enforcer, parts
        self._problems = []
        log.info("policy reloaded (%d lines in force)", enforcer.policy.line_count)

    def _reject(self, problems: list[str], *, source: str) -> None:
        self._problems = list(problems)
        log.error(
            "%s was not reloaded; the last good policy stays in force:\n%s",
            source,
            "\n".join(problems),
        )

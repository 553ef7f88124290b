"""The bot's whole exception tree.

`UserError` text is safe to show to the person who typed the command, verbatim.
`UpstreamError` means an external system failed; its text is logged, never shown.
`ConfigError` is raised only at start-up and stops the process with exit code 2.
Adapters convert third-party exceptions into these with `raise ... from exc`, so no
library exception type crosses a layer boundary.
"""

from __future__ import annotations


class BotError(Exception):
    """Root of every error the bot raises on purpose."""


class ConfigError(BotError):
    """The configuration file or environment is invalid.

    `problems` holds one line per problem, each naming the file and key path.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UserError(BotError):
    """Something the caller can fix; the message is shown to them as written."""


class CommandSyntaxError(UserError):
    """The command text does not parse; the message says what to type instead."""

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        self.usage = usage
        super().__init__(message)


class PermissionDenied(UserError):
    """The caller lacks a permission; names the permission, never the policy."""

    def __init__(self, message: str, *, resource: str = "", action: str = "", obj: str = "") -> None:
        self.resource = resource
        self.action = action
        self.obj = obj
        super().__init__(message)


class NotEnabled(UserError):
    """The command is understood but not available in this version or configuration."""


class OperationInProgress(UserError):
    """Argo CD already runs an operation on that application."""


class SlowDown(UserError):
    """One person sent more commands than the per-person rate limit allows."""


class ApprovalRequired(UserError):
    """The action needs an approval before it runs."""


class UpstreamError(BotError):
    """An external system (Kubernetes, Slack, S3, the database) failed."""


class KubeError(UpstreamError):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class KubeNotFound(KubeError):
    pass


class KubeConflict(KubeError):
    pass


class KubeForbidden(KubeError):
    pass


class KubeGone(KubeError):
    pass


class SlackError(UpstreamError):
    """Slack refused or could not be reached; `transient` when trying again later may work (5xx, network)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class RateLimited(SlackError):
    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class StorageError(UpstreamError):
    pass


class ArchiveError(UpstreamError):
    pass


class TemporaryError(BotError):
    """Background work failed in a way worth retrying after `delay` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(BotError):
    """Background work failed for good; report it and stop."""

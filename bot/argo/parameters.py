"""What a WorkflowTemplate declares (`TemplateInfo`, `TemplateParam`), and the check of the
`-p key=value` parameters a user gave against it.

Pure: no I/O and no `kubernetes` import, so `bot.render` and the handlers may use these
values without reaching the client. `check_parameters` refuses, in one `UserError` that
lists every problem at once, unknown names (with a "did you mean"), missing required
parameters, `enum` violations (naming the allowed values), over-long values and names
given twice, so a person fixes the command in one go and nothing reaches the cluster
before it is right. It returns the final values in the template's declared order.

Left out: reading templates (`bot.argo.workflows` builds these values) and judging
whether a value makes sense to the workflow itself.
Callers: the `run` handler and scheduled `run` jobs, before `workflows.submit_workflow`;
`bot.render` (TemplateInfo).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import UserError

MAX_VALUE_LENGTH = 1024


@dataclass(frozen=True)
class TemplateInfo:
    """What the bot needs to know about a WorkflowTemplate (built by `workflows.to_template_info`)."""

    name: str
    namespace: str
    description: str
    entrypoint: str
    params: tuple[TemplateParam, ...]


@dataclass(frozen=True)
class TemplateParam:
    """One entry of a template's `spec.arguments.parameters`.

    `default` is the declared `value`; None means the user must give one, unless the
    value comes from elsewhere (`valueFrom`, e.g. a ConfigMap key), which Argo resolves
    itself at run time.
    """

    name: str
    default: str | None = None
    enum: tuple[str, ...] = ()
    description: str = ""
    has_value_from: bool = False

    @property
    def is_required(self) -> bool:
        return self.default is None and not self.has_value_from


def check_parameters(
    params: Sequence[TemplateParam],
    given: Sequence[tuple[str, str]],
    *,
    max_value_length: int = MAX_VALUE_LENGTH,
) -> dict[str, str]:
    """The values to submit: what was given plus the defaults, in declared order.

    Args:
        params: the template's declared parameters.
        given: `(name, value)` pairs in the order the user typed them.
        max_value_length: the longest value accepted, in characters.

    Returns:
        name -> value for every declared parameter that has a value (a `valueFrom`
        parameter that was not given is left out, for Argo to resolve).

    Raises:
        UserError: naming every problem found, one per line.
    """
    declared = {param.name: param for param in params}
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, value in given:
        param = declared.get(name)
        if param is None:
            problems.append(_unknown(name, declared=list(declared)))
            continue
        if name in values:
            problems.append(f"`{name}` is given more than once; give it once")
            continue
        if param.has_value_from:
            # Argo fills it from its source (a ConfigMap key, a secret...): a value typed in
            # Slack would override what the template's owner chose to take from there
            problems.append(f"`{name}` comes from the template's own source (`valueFrom`) and cannot be set")
            continue
        values[name] = value
        if len(value) > max_value_length:
            problems.append(
                f"the value of `{name}` is {len(value)} characters long; the limit is {max_value_length}"
            )
        elif param.enum and value not in param.enum:
            problems.append(f"`{name}` must be one of {_listing(param.enum)} (got `{_shorten(value)}`)")
    for param in params:
        if param.name not in values and param.is_required:
            problems.append(f"`{param.name}` is required: add `-p {param.name}=VALUE`")
    if problems:
        raise UserError("\n".join(f"• {problem}" for problem in problems))
    final: dict[str, str] = {}
    for param in params:
        if param.name in values:
            final[param.name] = values[param.name]
        elif param.default is not None:
            final[param.name] = param.default
    return final


def _unknown(name: str, *, declared: list[str]) -> str:
    if not declared:
        return f"unknown parameter `{_shorten(name)}`: this template takes no parameters"
    close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"unknown parameter `{_shorten(name)}`{hint}; this template takes {_listing(declared)}"


def _listing(names: Sequence[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _shorten(text: str, limit: int = 60) -> str:
    """Echo user input back without letting a pasted blob flood the error message.

    Escaped for Slack (`&`, `<`, `>`): what someone typed never comes back as a mention or a link.
    """
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return short.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""Render an Argo artifact repository `keyFormat` for one pod, as Argo's controller does.

Supported variables: `workflow.name`, `workflow.namespace`, `workflow.uid`, `pod.name`,
`workflow.creationTimestamp` (RFC 3339) and `workflow.creationTimestamp.<L>` for a strftime
letter `L` (`Y`, `m`, `d`, `H`, `M`, `S`, `j`, `y`, ...). Unknown variables are left as
written. Pure; used by the workflow controller and by tests that predict keys.
"""

from __future__ import annotations

import datetime as dt
import re

_VARIABLE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
_TIMESTAMP = "workflow.creationTimestamp"


def render_key(
    key_format: str,
    *,
    namespace: str,
    workflow_name: str,
    pod_name: str,
    created: dt.datetime,
    workflow_uid: str = "",
) -> str:
    """The artifact key prefix for one pod (the log itself goes to `<key>/main.log`)."""
    values = {
        "workflow.name": workflow_name,
        "workflow.namespace": namespace,
        "workflow.uid": workflow_uid,
        "pod.name": pod_name,
        _TIMESTAMP: created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        prefix, _, letter = name.rpartition(".")
        if prefix == _TIMESTAMP and len(letter) == 1 and letter.isalpha():
            return created.strftime("%" + letter)
        return match.group(0)

    return _VARIABLE.sub(replace, key_format).strip("/")

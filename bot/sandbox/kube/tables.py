"""`meta.k8s.io/v1` Table answers for `kubectl get` (requested with `Accept: ...;as=Table`).

Columns: NAME, then the kind's printer columns (a CRD's additionalPrinterColumns), then AGE
from `creationTimestamp` for built-in kinds and for CRDs without printer columns (Workflows
take theirs from `status.startedAt`, Applications have none, as their CRDs define). Dates are
shown as the apiserver shows them ("5m", "3h2m"). Rows carry PartialObjectMetadata unless
`includeObject` asks otherwise.
Not covered: Tables in watch streams (`kubectl get -w`). Callers: `server`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.sandbox.kube.resources import PrinterColumn, ResourceType

_NAME_COLUMN: dict[str, Any] = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically.",
    "priority": 0,
}
_AGE = PrinterColumn(
    "Age",
    ".metadata.creationTimestamp",
    "date",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def wants_table(accept: str) -> bool:
    """True when the client asked for `as=Table` (kubectl's default `get`)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


def to_table(
    rtype: ResourceType,
    items: list[dict[str, Any]],
    *,
    resource_version: str,
    include_object: str,
    now: datetime,
    continue_token: str | None = None,
) -> dict[str, Any]:
    """Render objects as a Table; `include_object` is None, Metadata (default) or Object."""
    columns = list(rtype.columns)
    # A CRD with additionalPrinterColumns shows exactly those; otherwise AGE comes last.
    if not (rtype.custom and columns) and not any(c.name == "Age" for c in columns):
        columns.append(_AGE)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [_NAME_COLUMN]
        + [
            {
                "name": c.name,
                "type": c.type if c.type != "date" else "date",
                "format": "",
                "description": c.description,
                "priority": c.priority,
            }
            for c in columns
        ],
        "rows": [
            {
                "cells": [obj.get("metadata", {}).get("name", "")] + [_cell(obj, c, now) for c in columns],
                "object": _row_object(obj, include_object),
            }
            for obj in items
        ],
    }


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _cell(obj: dict[str, Any], column: PrinterColumn, now: datetime) -> Any:
    value: Any = obj
    for key in column.json_path.strip(".").split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return None
    if column.type == "date":
        return human_duration(now, str(value))
    return value


def human_duration(now: datetime, stamp: str) -> str:
    """Age as kubectl shows it (apimachinery's HumanDuration, slightly simplified)."""
    try:
        then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<invalid>"
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"

"""Kubernetes `Status` errors: the exception the store raises and the body the server sends.

Every failure of the stand-in reaches clients as a `kind: Status` object with the same
`reason`, `code` and message wording as the real apiserver, because clients (and the bot's
error mapping) branch on them. Who calls it: `store`, `patching`, `server`, `faults`.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.kube.resources import ResourceType

REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A request failed the way the apiserver would fail it; `to_status()` is the reply body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "Unknown")
        self.details = details
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> dict[str, Any]:
        """The `Status` object, as `metav1.Status` serialises it."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


class NotFound(ApiError, KeyError):
    """404; also a KeyError so in-process callers can treat the store like a mapping."""

    def __init__(self, rtype: ResourceType, name: str) -> None:
        super().__init__(
            404,
            f'{rtype.group_resource} "{name}" not found',
            details=_details(rtype, name),
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


def already_exists(rtype: ResourceType, name: str) -> ApiError:
    """409 AlreadyExists for a create whose name is taken."""
    return ApiError(
        409,
        f'{rtype.group_resource} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(rtype, name),
    )


def conflict(rtype: ResourceType, name: str, why: str | None = None) -> ApiError:
    """409 Conflict for a stale resourceVersion (or a failed precondition)."""
    text = (
        why or "the object has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {rtype.group_resource} "{name}": {text}',
        reason="Conflict",
        details=_details(rtype, name),
    )


def invalid(rtype: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs such as ("metadata.name", "Required value: ...")."""
    text = ", ".join(f"{path}: {why}" for path, why in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    details = _details(rtype, name)
    details["causes"] = [
        {
            "reason": "FieldValueRequired" if why.startswith("Required") else "FieldValueInvalid",
            "message": why,
            "field": path,
        }
        for path, why in causes
    ]
    return ApiError(422, f'{rtype.qualified_kind} "{name}" is invalid: {text}', details=details)


def forbidden(
    *,
    rtype: ResourceType,
    user: str,
    verb: str,
    namespace: str | None,
    name: str | None,
    subresource: str | None,
) -> ApiError:
    """403 with the RBAC authorizer's wording."""
    resource = f"{rtype.plural}/{subresource}" if subresource else rtype.plural
    subject = f'{rtype.group_resource} "{name}"' if name else rtype.group_resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(
        403,
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{rtype.group}" {scope}',
        details=_details(rtype, name or ""),
    )


def success(rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The `Status: Success` some DELETEs answer with instead of the object."""
    meta = obj.get("metadata", {})
    details = _details(rtype, meta.get("name", ""))
    details["uid"] = meta.get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def _details(rtype: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rtype.plural}
    if rtype.group:
        details["group"] = rtype.group
    return details

"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as the apiserver applies them.

Strategic merge patch is not implemented: the server refuses it for custom resources (as
the real one does, 415) and applies it as a merge patch for built-in kinds, which is close
enough for the labels/annotations/spec fields clients patch. Who calls it: `store`.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.kube.status import ApiError


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 including `test`; a failed operation is a 422 as the apiserver answers.

    Raises:
        ApiError: 400 for a malformed patch document, 422 when an operation cannot apply.
    """
    if not isinstance(operations, list):
        raise ApiError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, f"invalid JSON patch operation: {op!r}")
        doc = _apply_one(doc, op)
    return doc


def _apply_one(doc: Any, op: dict[str, Any]) -> Any:
    kind = op["op"]
    path = op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise ApiError(400, f'missing value for "{kind}" operation')
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "remove":
        return _remove(doc, path)[0]
    if kind == "replace":
        _get(doc, path)  # must exist
        doc = _remove(doc, path)[0]
        return _add(doc, path, copy.deepcopy(op["value"]))
    if kind == "move":
        doc, value = _remove(doc, _from(op))
        return _add(doc, path, value)
    if kind == "copy":
        return _add(doc, path, copy.deepcopy(_get(doc, _from(op))))
    if kind == "test":
        if _get(doc, path) != op["value"]:
            raise _unprocessable(f"testing value {path} failed: test failed")
        return doc
    raise ApiError(400, f"Unexpected kind: {kind}")


def _from(op: dict[str, Any]) -> str:
    if "from" not in op:
        raise ApiError(400, f'missing from for "{op["op"]}" operation')
    return str(op["from"])


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, message)


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(400, f"invalid JSON pointer: {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise _unprocessable(f"invalid array index: {token}")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise _unprocessable(f"array index out of bounds: {index}")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, allow_end=False)]
        else:
            raise _unprocessable(f"doc is missing path: {path}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"doc is missing path: {path}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise _unprocessable(f"doc is missing path: {path}")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise _unprocessable(f"doc is missing path: {path}")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _tokens(path)
    if not tokens:
        return None, doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"doc is missing path: {path}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise _unprocessable(f"doc is missing path: {path}")

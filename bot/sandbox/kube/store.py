"""Objects, resourceVersions and the bounded event history that watches read from.

One global counter gives every write a new `resourceVersion` (as etcd's revision does), so a
list's version and any object's version can be compared. Writes append ADDED / MODIFIED /
DELETED events to a bounded history; a watch resumes from any version still in it and gets
`410 Expired` otherwise. Apiserver rules applied here: generateName, uid, creationTimestamp,
generation bumped on spec changes, optimistic concurrency, the `/status` split, finalizers
delaying deletion, no-op updates not bumping the version. Not modelled: garbage collection,
namespace content deletion, admission, defaulting, managedFields, server-side apply.

Callers: `server` (HTTP) and tests/seeding code, which use the public methods directly.
"""

from __future__ import annotations

import builtins
import copy
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.kube import patching, selectors
from bot.sandbox.kube.resources import Registry, ResourceType
from bot.sandbox.kube.status import ApiError, NotFound, already_exists, conflict, invalid

Obj = dict[str, Any]
DEFAULT_NAMESPACES: tuple[str, ...] = ("default", "kube-system", "kube-public", "argo", "argocd")

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's utilrand alphabet
_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@dataclass(frozen=True)
class WatchEvent:
    """One write, kept in the history. `old` is the object before it (None for ADDED)."""

    rv: int
    type: str
    rtype: ResourceType
    namespace: str | None
    obj: Obj
    old: Obj | None


class WatchClosed(Exception):
    """The watch must end now: server stopping or watches dropped by a fault."""


def format_time(moment: datetime) -> str:
    """RFC 3339 with a `Z`, seconds precision, as `metav1.Time` serialises."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """Thread-safe object store with apiserver write semantics and a watchable history.

    Args:
        registry: served kinds.
        history_limit: how many events are kept for watches to resume from.
        now: clock for creationTimestamp/deletionTimestamp (UTC).
        namespaces: namespaces created at start (objects in other namespaces are accepted too).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        history_limit: int = 1000,
        now: Callable[[], datetime] | None = None,
        namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
    ) -> None:
        self.registry = registry
        self._now = now or (lambda: datetime.now(UTC))
        self._cond = threading.Condition()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque()
        self._history_limit = max(1, history_limit)
        self._floor = 0  # oldest resourceVersion a watch may resume from
        self._epoch = 0  # bumped to drop every open watch
        self._closed = False
        for name in namespaces:
            self.create("", "v1", "namespaces", None, {"metadata": {"name": name}}, keep_status=False)

    # ----------------------------------------------------------------- lookup helpers

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        """The served type, or a 404 like the apiserver's for an unknown resource."""
        rtype = self.registry.find(group, version, plural)
        if rtype is None:
            raise ApiError(404, "the server could not find the requested resource")
        return rtype

    @property
    def resource_version(self) -> str:
        """The newest resourceVersion (what a list reports)."""
        with self._cond:
            return str(self._rv)

    @property
    def oldest_resource_version(self) -> int:
        """The oldest resourceVersion a watch can still resume from."""
        with self._cond:
            return self._floor

    # ----------------------------------------------------------------- reads

    def get(self, group: str, version: str, plural: str, namespace: str | None, name: str) -> Obj:
        """A copy of one object.

        Raises:
            NotFound: (a KeyError too) when absent.
        """
        rtype = self.resolve(group, version, plural)
        with self._cond:
            return copy.deepcopy(self._require(rtype, namespace, name))

    def list(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Copies of the matching objects, sorted by namespace then name."""
        return self.list_with_version(
            group, version, plural, namespace, label_selector=label_selector, field_selector=field_selector
        )[0]

    def list_with_version(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[builtins.list[Obj], str]:
        """Like `list`, plus the resourceVersion the list is consistent with."""
        rtype = self.resolve(group, version, plural)
        match = self.matcher(rtype, label_selector=label_selector, field_selector=field_selector)
        with self._cond:
            bucket = self._objects.get((rtype.group, rtype.plural), {})
            items = [
                copy.deepcopy(obj)
                for key, obj in sorted(bucket.items())
                if (namespace is None or key[0] == namespace) and match(obj)
            ]
            return items, str(self._rv)

    @staticmethod
    def matcher(
        rtype: ResourceType, *, label_selector: str | None, field_selector: str | None
    ) -> selectors.Matcher:
        """Compile both selectors into one predicate (400 for bad syntax)."""
        labels = selectors.parse_label_selector(label_selector)
        fields = selectors.parse_field_selector(field_selector, supported=rtype.field_labels)
        return lambda obj: labels(obj) and fields(obj)

    # ----------------------------------------------------------------- writes

    def create(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        obj: Obj,
        *,
        dry_run: bool = False,
        keep_status: bool = True,
    ) -> Obj:
        """Store a new object and return it as stored.

        `keep_status=True` (the default for in-process seeding) keeps a given `status`; the HTTP
        server passes False so a POST drops `status` for kinds with a status subresource, as the
        apiserver does.

        Raises:
            ApiError: 409 AlreadyExists, 422 Invalid, 400 for a namespace mismatch.
        """
        rtype = self.resolve(group, version, plural)
        new = copy.deepcopy(obj)
        if not isinstance(new, dict):
            raise ApiError(400, "the body of the request was not a JSON object")
        new["apiVersion"] = rtype.api_version
        new["kind"] = rtype.kind
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        namespace = self._namespace_for(rtype, namespace, meta)
        if rtype.has_status and not keep_status:
            new.pop("status", None)
        if rtype.plural == "namespaces":
            new.setdefault("status", {})["phase"] = "Active"
            new.setdefault("spec", {"finalizers": ["kubernetes"]})
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ):
            meta.pop(key, None)
        with self._cond:
            bucket = self._objects.setdefault((rtype.group, rtype.plural), {})
            if not meta.get("name") and meta.get("generateName"):
                self._validate_name(
                    rtype,
                    meta["generateName"] + "x",
                    field="metadata.generateName",
                    shown=meta["generateName"],
                )
                meta["name"] = self._generate_name(bucket, namespace, meta["generateName"])
            name = meta.get("name") or ""
            if not name:
                raise invalid(
                    rtype, "", [("metadata.name", "Required value: name or generateName is required")]
                )
            self._validate_name(rtype, name, field="metadata.name", shown=name)
            if (namespace or "", name) in bucket:
                raise already_exists(rtype, name)
            if dry_run:
                meta.update(uid=str(uuid.uuid4()), creationTimestamp=format_time(self._now()), generation=1)
                return new
            self._rv += 1
            meta.update(
                uid=str(uuid.uuid4()),
                resourceVersion=str(self._rv),
                creationTimestamp=format_time(self._now()),
                generation=1,
            )
            bucket[(namespace or "", name)] = new
            self._record("ADDED", rtype, namespace, new, None)
            return copy.deepcopy(new)

    def update(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Replace an object (PUT), honouring `metadata.resourceVersion` and the status split.

        With `subresource="status"` only `status` changes; otherwise `status` is kept as it was
        for kinds that have a status subresource. Custom resources need a resourceVersion, as
        on a real cluster; built-in kinds accept an unconditional update.

        Raises:
            NotFound, ApiError: 409 Conflict for a stale resourceVersion, 422 when a custom
            resource comes without one.
        """
        rtype = self.resolve(group, version, plural)
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise ApiError(400, "the body of the request was not a JSON object")
        name = obj.get("metadata", {}).get("name") or ""
        if not name:
            raise invalid(rtype, "", [("metadata.name", "Required value: name is required")])
        with self._cond:
            existing = self._require(rtype, namespace, name)
            given_rv = obj.get("metadata", {}).get("resourceVersion")
            if not given_rv and rtype.custom:
                raise invalid(
                    rtype,
                    name,
                    [("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update")],
                )
            if given_rv and str(given_rv) != existing["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            return self._replace(
                rtype, namespace, existing, copy.deepcopy(obj), subresource=subresource, dry_run=dry_run
            )

    def patch(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Apply a merge (`"merge"`, also used for strategic) or JSON (`"json"`) patch.

        A `metadata.resourceVersion` left in the patched object acts as a precondition (409 when
        stale), which is how clients make a patch conditional.
        """
        rtype = self.resolve(group, version, plural)
        with self._cond:
            existing = self._require(rtype, namespace, name)
            if patch_type == "json":
                patched = patching.apply_json_patch(existing, patch)
            else:
                if not isinstance(patch, dict):
                    raise ApiError(400, "the body of the request was not a JSON object")
                patched = patching.apply_merge_patch(existing, patch)
            if not isinstance(patched, dict):
                raise ApiError(422, "the patched object is not a JSON object")
            meta = patched.setdefault("metadata", {})
            if str(meta.get("resourceVersion", "")) not in ("", existing["metadata"]["resourceVersion"]):
                raise conflict(rtype, name)
            if meta.get("name") != name:
                raise ApiError(
                    422,
                    f'{rtype.qualified_kind} "{name}" is invalid: metadata.name: '
                    "Invalid value: the name cannot be changed by a patch",
                )
            return self._replace(
                rtype, namespace, existing, patched, subresource=subresource, dry_run=dry_run
            )

    def patch_merge(
        self, group: str, version: str, plural: str, namespace: str | None, name: str, patch: Obj, **kw: Any
    ) -> Obj:
        """Shorthand for `patch(..., patch_type="merge")`."""
        return self.patch(group, version, plural, namespace, name, patch, patch_type="merge", **kw)

    def patch_status(
        self, group: str, version: str, plural: str, namespace: str | None, name: str, status: Obj
    ) -> Obj:
        """Merge-patch `status` through the status subresource (what controllers do)."""
        return self.patch(group, version, plural, namespace, name, {"status": status}, subresource="status")

    def delete(
        self,
        group: str,
        version: str,
        plural: str,
        namespace: str | None,
        name: str,
        *,
        preconditions: Obj | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete an object and return its last state.

        With `metadata.finalizers` the object only gets a `deletionTimestamp` (MODIFIED); it goes
        once an update empties the finalizers, as on a real cluster.
        """
        rtype = self.resolve(group, version, plural)
        with self._cond:
            existing = self._require(rtype, namespace, name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != existing["metadata"]["uid"]:
                raise conflict(
                    rtype,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, "
                    f"UID in object meta: {existing['metadata']['uid']}",
                )
            if (
                pre.get("resourceVersion")
                and str(pre["resourceVersion"]) != existing["metadata"]["resourceVersion"]
            ):
                raise conflict(
                    rtype,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{existing['metadata']['resourceVersion']}",
                )
            if dry_run:
                return copy.deepcopy(existing)
            if existing["metadata"].get("finalizers"):
                if existing["metadata"].get("deletionTimestamp"):
                    return copy.deepcopy(existing)
                new = copy.deepcopy(existing)
                new["metadata"]["deletionTimestamp"] = format_time(self._now())
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._commit(rtype, namespace, existing, new)
            return self._remove(rtype, namespace, existing)

    # ----------------------------------------------------------------- watches and faults

    def open_watch(
        self,
        rtype: ResourceType,
        *,
        namespace: str | None,
        resource_version: str | None,
        match: selectors.Matcher,
    ) -> tuple[builtins.list[tuple[str, Obj]], WatchCursor]:
        """Start a watch: synthetic ADDED events (when no version or "0" is given) and a cursor.

        Raises:
            ApiError: 410 Expired when `resource_version` is older than the retained history.
        """
        with self._cond:
            if resource_version in (None, "", "0"):
                bucket = self._objects.get((rtype.group, rtype.plural), {})
                initial = [
                    ("ADDED", obj)
                    for key, obj in sorted(bucket.items())
                    if (namespace is None or key[0] == namespace) and match(obj)
                ]
                start = self._rv
            else:
                try:
                    start = int(str(resource_version))
                except ValueError as exc:
                    raise ApiError(400, f"invalid resource version: {resource_version!r}") from exc
                if start < self._floor:
                    raise self.expired(start)
                initial = []
            return initial, WatchCursor(self, rtype=rtype, namespace=namespace, match=match, start=start)

    def expired(self, asked: int) -> ApiError:
        """The 410 a watch from a compacted version gets (wording of the apiserver's watch cache)."""
        return ApiError(410, f"too old resource version: {asked} ({self._floor})", reason="Expired")

    def compact(self) -> int:
        """Forget the event history: watches from any older version now get 410. Returns the floor."""
        with self._cond:
            self._history.clear()
            self._floor = self._rv
            self._cond.notify_all()
            return self._floor

    def drop_watches(self) -> None:
        """End every open watch stream now (clients see the stream end)."""
        with self._cond:
            self._epoch += 1
            self._cond.notify_all()

    def close(self) -> None:
        """End all watches for good (server stop)."""
        with self._cond:
            self._closed = True
            self._epoch += 1
            self._cond.notify_all()

    # ----------------------------------------------------------------- internals (lock held)

    def _require(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        key = ((namespace or "") if rtype.namespaced else "", name)
        obj = self._objects.get((rtype.group, rtype.plural), {}).get(key)
        if obj is None:
            raise NotFound(rtype, name)
        return obj

    @staticmethod
    def _namespace_for(rtype: ResourceType, namespace: str | None, meta: Obj) -> str | None:
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return None
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise ApiError(
                400, "the namespace of the provided object does not match the namespace sent on the request"
            )
        namespace = namespace or given or "default"
        meta["namespace"] = namespace
        return namespace

    @staticmethod
    def _validate_name(rtype: ResourceType, name: str, *, field: str, shown: str) -> None:
        if rtype.plural == "namespaces":
            ok, help_text, limit = bool(_LABEL.match(name)), _LABEL_HELP, 63
        else:
            ok, help_text, limit = bool(_SUBDOMAIN.match(name)), _SUBDOMAIN_HELP, 253
        if not ok:
            raise invalid(rtype, shown, [(field, f'Invalid value: "{shown}": {help_text}')])
        if len(name) > limit:
            raise invalid(
                rtype, shown, [(field, f'Invalid value: "{shown}": must be no more than {limit} characters')]
            )

    @staticmethod
    def _generate_name(bucket: dict[tuple[str, str], Obj], namespace: str | None, prefix: str) -> str:
        for _ in range(100):
            name = prefix[:58] + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))
            if ((namespace or ""), name) not in bucket:
                return name
        raise ApiError(500, "could not generate a unique name")

    def _replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        existing: Obj,
        new: Obj,
        *,
        subresource: str | None,
        dry_run: bool,
    ) -> Obj:
        if subresource == "status":
            candidate = copy.deepcopy(existing)
            if "status" in new:
                candidate["status"] = new["status"]
            else:
                candidate.pop("status", None)
        else:
            candidate = new
            candidate["apiVersion"], candidate["kind"] = rtype.api_version, rtype.kind
            if rtype.has_status:
                if "status" in existing:
                    candidate["status"] = copy.deepcopy(existing["status"])
                else:
                    candidate.pop("status", None)
            meta = candidate.setdefault("metadata", {})
            old_meta = existing["metadata"]
            for key in (
                "name",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if rtype.namespaced:
                meta["namespace"] = old_meta["namespace"]
            if _spec_of(candidate) != _spec_of(existing):
                meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if candidate == existing:
            return copy.deepcopy(existing)  # a no-op write keeps its resourceVersion and sends no event
        if dry_run:
            return candidate
        return self._commit(rtype, namespace, existing, candidate)

    def _commit(self, rtype: ResourceType, namespace: str | None, existing: Obj, new: Obj) -> Obj:
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rtype, namespace, new, old=existing)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects[(rtype.group, rtype.plural)][(namespace or "", meta["name"])] = new
        self._record("MODIFIED", rtype, namespace, new, existing)
        return copy.deepcopy(new)

    def _remove(self, rtype: ResourceType, namespace: str | None, obj: Obj, *, old: Obj | None = None) -> Obj:
        self._rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        del self._objects[(rtype.group, rtype.plural)][(namespace or "", gone["metadata"]["name"])]
        self._record("DELETED", rtype, namespace, gone, old or obj)
        return copy.deepcopy(gone)

    def _record(
        self, kind: str, rtype: ResourceType, namespace: str | None, obj: Obj, old: Obj | None
    ) -> None:
        self._history.append(WatchEvent(self._rv, kind, rtype, namespace, obj, old))
        while len(self._history) > self._history_limit:
            self._floor = self._history.popleft().rv
        self._cond.notify_all()


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class WatchCursor:
    """A position in the history for one watch; `poll` hands out the events a client should see.

    With a selector, an object that stops matching is sent as DELETED and one that starts
    matching as ADDED, as the apiserver's watch cache does.
    """

    def __init__(
        self,
        store: Store,
        *,
        rtype: ResourceType,
        namespace: str | None,
        match: selectors.Matcher,
        start: int,
    ) -> None:
        self._store = store
        self._rtype = rtype
        self._namespace = namespace
        self._match = match
        self.position = start
        self._epoch = store._epoch

    def poll(self, timeout: float) -> list[tuple[str, Obj]]:
        """Events after the cursor, waiting up to `timeout` seconds for the first one.

        Raises:
            WatchClosed: when watches were dropped or the store closed.
            ApiError: 410 when the events this watch still needed were compacted away.
        """
        store = self._store
        with store._cond:
            if not self._pending():
                store._cond.wait(timeout)
            if store._closed or store._epoch != self._epoch:
                raise WatchClosed()
            if self.position < store._floor:
                raise store.expired(self.position)
            fresh: list[WatchEvent] = []
            for event in reversed(store._history):  # newest first; stop at what was already seen
                if event.rv <= self.position:
                    break
                fresh.append(event)
            self.position = store._rv
            return [t for t in (self._translate(e) for e in reversed(fresh)) if t is not None]

    def _pending(self) -> bool:
        store = self._store
        return (
            store._rv > self.position
            or store._closed
            or store._epoch != self._epoch
            or self.position < store._floor
        )

    def _translate(self, event: WatchEvent) -> tuple[str, Obj] | None:
        if event.rtype is not self._rtype and (event.rtype.group, event.rtype.plural) != (
            self._rtype.group,
            self._rtype.plural,
        ):
            return None
        if self._namespace is not None and event.namespace != self._namespace:
            return None
        now_matches = self._match(event.obj)
        was_matching = event.old is not None and self._match(event.old)
        if event.type == "DELETED":
            return ("DELETED", event.obj) if was_matching else None
        if event.type == "ADDED":
            return ("ADDED", event.obj) if now_matches else None
        if now_matches:
            return ("MODIFIED" if was_matching else "ADDED", event.obj)
        return ("DELETED", event.obj) if was_matching else None

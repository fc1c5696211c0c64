"""The object store: every write rule of the API server, independent of HTTP.

One re-entrant lock guards everything; a write happens entirely under it (read, check, change, commit), so
concurrent clients see the same serialisation a real API server with etcd gives them. Objects are kept as
the JSON the client wrote (key order included); the server only fills in what the real one owns
(``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``, ...).

Behaviours copied from the upstream registry (``k8s.io/apiserver/pkg/registry/generic/registry/store.go``
and the per-kind strategies):

* ``resourceVersion`` is one global counter (a string on the wire) bumped by every committed write; a
  write that changes nothing is not committed and keeps the old ``resourceVersion`` (etcd's
  ``GuaranteedUpdate`` no-op), whatever the key order of the request.
* PUT with a stale ``metadata.resourceVersion`` -> 409 ``Conflict``; without one, built-in kinds update
  unconditionally and custom resources answer 422 (``must be specified for an update``).
* For kinds with a ``status`` subresource, writes to the main resource keep the stored status and writes
  to ``/status`` change only the status. ``metadata.generation`` starts at 1 and is bumped when anything
  outside ``metadata`` (and ``status`` when it is a subresource) changes.
* DELETE of an object with ``metadata.finalizers`` only sets ``deletionTimestamp``; the object goes when
  the last finalizer is removed. Deleting a Namespace deletes its objects at once (no ``Terminating``).
* Creating in a namespace that does not exist -> 404 ``namespaces "x" not found``.
* Writes are validated by :mod:`tests.support.kubeapi.validation` (the rules a step can trip over);
  seeding is not.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from tests.support.kubeapi.patch import (
    PatchError,
    PatchFailed,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from tests.support.kubeapi.resources import Registry, ResourceType
from tests.support.kubeapi.selectors import FieldSelector, LabelSelector
from tests.support.kubeapi.status import ApiError, Cause, GroupResource
from tests.support.kubeapi.validation import validate

__all__ = [
    "APPLY_PATCH",
    "DEFAULT_NAMESPACES",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_PATCH",
    "Admission",
    "Store",
    "WriteEvent",
    "now_rfc3339",
]

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
GENERATE_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphanums
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SYSTEM_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339() -> str:
    """The API server's timestamp format: RFC 3339, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """A committed change, as watchers and simulated controllers see it."""

    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    resource: ResourceType
    object: Obj
    old: Obj | None
    subresource: str
    """``""`` for the main resource, ``status`` or ``scale``."""
    revision: int


Admission = Callable[[str, ResourceType, Obj, Obj | None], None]
"""A validating admission hook: ``(operation, resource, new, old)``; raise :class:`ApiError` to refuse."""


HISTORY = 20000
"""Committed events kept for watches; a watch from an older resourceVersion gets 410 Expired."""


class Store:
    """In-memory objects of every registered resource, with the API server's write semantics."""

    def __init__(self, registry: Registry, *, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.registry = registry
        self._seed = seed
        self._rng = random.Random(seed)
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self._applied: dict[tuple[str, str, str, str, str], Obj] = {}
        self._revision = 0
        self._history: deque[tuple[int, WriteEvent]] = deque(maxlen=HISTORY)
        self.listeners: list[Callable[[WriteEvent], None]] = []
        """Called under the lock after every commit; must be quick (enqueue work, never block)."""
        self.admission: list[Admission] = []
        self._local = threading.local()
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None) -> None:
        """Forget every object (the revision counter keeps growing, as on a real cluster)."""
        with self.lock:
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)
            self._objects.clear()
            self._applied.clear()
            self._history.clear()
            self.listeners.clear()
            self.admission.clear()
            ns = self.registry.by_kind("v1", "Namespace")
            for name in DEFAULT_NAMESPACES:
                self.seed(ns, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def commits_by_this_thread(self) -> int:
        """How many writes this thread has committed so far (tells a request log "this request wrote")."""
        return int(getattr(self._local, "commits", 0))

    @property
    def revision(self) -> int:
        """The latest committed ``resourceVersion``; unchanged means nothing was written."""
        with self.lock:
            return self._revision

    # -- reads ----------------------------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rt.key, {})

    def raw(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """A deep copy of the object exactly as stored, or None."""
        with self.lock:
            obj = self._bucket(rt).get((namespace if rt.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.raw(rt, namespace, name)
        if obj is None:
            raise ApiError.not_found(GroupResource(rt.group, rt.plural), name)
        return obj

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace and name (etcd key order), and the list's resourceVersion."""
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self._bucket(rt).items())
                if (namespace is None or ns == namespace)
                and (labels is None or labels.matches(obj.get("metadata", {}).get("labels")))
                and (fields is None or fields.matches(obj, field_value))
            ]
            return items, self._revision

    def namespace_exists(self, name: str) -> bool:
        with self.lock:
            return ("", name) in self._objects.get(("", "namespaces"), {})

    # -- seeding (tests) ------------------------------------------------------------------------------

    def seed(self, rt: ResourceType, obj: Obj) -> Obj:
        """Store ``obj`` as given (status included), creating or replacing, filling only missing metadata.

        No validation, no admission, no strategy: this is how a test puts the cluster in a state.
        Missing namespaces are created. Listeners are told (``ADDED``/``MODIFIED``).
        """
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            name = meta.get("name")
            if not name:
                raise ValueError(f"seeded {rt.kind} has no metadata.name: {obj!r}")
            ns = ""
            if rt.namespaced:
                ns = meta.setdefault("namespace", "default")
                if not self.namespace_exists(ns):
                    self.seed(self.registry.by_kind("v1", "Namespace"), _namespace(ns))
            else:
                meta.pop("namespace", None)
            old = self._bucket(rt).get((ns, name))
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            self._revision += 1
            meta["resourceVersion"] = str(self._revision)
            if rt.generation:
                meta.setdefault("generation", 1)
            meta.setdefault("creationTimestamp", now_rfc3339())
            if rt.kind == "Namespace" and rt.group == "":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj.setdefault("status", {"phase": "Active"})
            self._bucket(rt)[(ns, name)] = obj
            self._emit("MODIFIED" if old else "ADDED", rt, obj, old, "")
            return copy.deepcopy(obj)

    def remove(self, rt: ResourceType, namespace: str, name: str) -> bool:
        """Delete without any rule (no finalizers, no preconditions); True when something was there."""
        with self.lock:
            key = (namespace if rt.namespaced else "", name)
            if key not in self._bucket(rt):
                return False
            self._drop(rt, *key)
            return True

    # -- writes ---------------------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Any, *, version: str = "", dry_run: bool = False) -> Obj:
        """POST: validate, name, default, admit, commit. Returns the stored object."""
        with self.lock:
            obj = self._decode_body(rt, body, version)
            meta = obj["metadata"]
            if rt.namespaced:
                if meta.get("namespace") and meta["namespace"] != namespace:
                    raise ApiError.bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request"
                    )
                if not self.namespace_exists(namespace):
                    raise ApiError.not_found(GroupResource("", "namespaces"), namespace)
            ns = namespace if rt.namespaced else ""
            if not meta.get("name"):
                base = meta.get("generateName")
                if not base:
                    raise _invalid(
                        rt,
                        "",
                        "metadata.name",
                        "FieldValueRequired",
                        "Required value: name or generateName is required",
                    )
                base = base[:58] if len(base) > 58 else base
                name = base + "".join(self._rng.choice(GENERATE_NAME_CHARS) for _ in range(5))
                _set_in_order(meta, "name", name, before="generateName")
            name = meta["name"]
            _validate_name(rt, name)
            if rt.namespaced:
                _set_in_order(meta, "namespace", ns, after="name")
            else:
                meta.pop("namespace", None)
            if (ns, name) in self._bucket(rt):
                if meta.get("generateName") and not body.get("metadata", {}).get("name"):
                    err = ApiError.already_exists(GroupResource(rt.group, rt.plural), name)
                    err.message += ", the server was not able to generate a unique name for the object"
                    err.details["retryAfterSeconds"] = 1
                    raise err
                raise ApiError.already_exists(GroupResource(rt.group, rt.plural), name)
            for key in (*_SYSTEM_META, "resourceVersion"):
                meta.pop(key, None)
            meta["uid"] = str(uuid.uuid4())
            meta["resourceVersion"] = ""
            if rt.generation:
                meta["generation"] = 1
            meta["creationTimestamp"] = now_rfc3339()
            _prepare_for_create(rt, obj)
            causes = validate(rt, obj, None)
            if causes:
                raise ApiError.invalid(rt.kind, rt.group, name, causes)
            for hook in list(self.admission):
                hook("CREATE", rt, obj, None)
            if dry_run:
                meta.pop("resourceVersion")
                return copy.deepcopy(obj)
            self._revision += 1
            meta["resourceVersion"] = str(self._revision)
            self._bucket(rt)[(ns, name)] = obj
            self._emit("ADDED", rt, obj, None, "")
            return copy.deepcopy(obj)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        version: str = "",
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        """PUT of the main resource or of ``/status``."""
        with self.lock:
            new = self._decode_body(rt, body, version)
            old = self.get(rt, namespace, name)
            self._check_identity(rt, namespace, name, new)
            rv = new["metadata"].get("resourceVersion")
            if not rv and not rt.allows_unconditional_update:
                raise _invalid(
                    rt,
                    name,
                    "metadata.resourceVersion",
                    "FieldValueInvalid",
                    "Invalid value: 0x0: must be specified for an update",
                )
            return self._commit_update(rt, old, new, subresource, dry_run, check_rv=bool(rv))

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        raw_patch: bytes,
        *,
        version: str = "",
        subresource: str = "",
        dry_run: bool = False,
        field_manager: str = "",
    ) -> tuple[Obj, bool]:
        """PATCH of any supported type; returns (object, created) — apply may create."""
        with self.lock:
            accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
            if rt.builtin:
                accepted.insert(2, STRATEGIC_PATCH)
            if content_type not in accepted:
                raise ApiError.unsupported_media_type(content_type, accepted)
            if content_type == APPLY_PATCH:
                return self._apply(rt, namespace, name, raw_patch, version, subresource, dry_run, field_manager)
            try:
                doc = json.loads(raw_patch or b"null")
            except ValueError as exc:
                raise ApiError.bad_request(f"error decoding patch: {exc}") from exc
            old = self.get(rt, namespace, name)
            try:
                if content_type == JSON_PATCH:
                    new = json_patch(old, doc)
                elif content_type == MERGE_PATCH:
                    if not isinstance(doc, dict):
                        raise PatchError("merge patch must be a JSON object")
                    new = merge_patch(old, doc)
                else:
                    new = strategic_merge_patch(old, doc, rt.patch_meta)
            except PatchFailed as exc:
                # the real server drops the operation's own message too (NewGenericServerResponse)
                raise ApiError.unprocessable() from exc
            except PatchError as exc:
                raise ApiError.bad_request(str(exc)) from exc
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise ApiError.bad_request("the patched object is not a Kubernetes object")
            new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
            self._check_identity(rt, namespace, name, new)
            if new["metadata"].get("resourceVersion") is None:
                # the patch removed it: an unconditional write, allowed for every kind
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._commit_update(rt, old, new, subresource, dry_run, check_rv=True), False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw_patch: bytes,
        version: str,
        subresource: str,
        dry_run: bool,
        field_manager: str,
    ) -> tuple[Obj, bool]:
        if not field_manager:
            raise ApiError.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [Cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")],
            )
        try:
            applied = yaml.safe_load(raw_patch.decode() or "null")
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ApiError.bad_request(f"error decoding YAML: {exc}") from exc
        if not isinstance(applied, dict):
            raise ApiError.bad_request("apply patch must be a YAML or JSON object")
        if not applied.get("apiVersion") or not applied.get("kind"):
            raise ApiError.bad_request("invalid object type: apply patch needs apiVersion and kind")
        meta = applied.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be an object")
        if meta.get("name", name) != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        key = (rt.group, rt.plural, namespace if rt.namespaced else "", name, field_manager)
        old = self.raw(rt, namespace, name)
        if old is None:
            if subresource:
                raise ApiError.not_found(GroupResource(rt.group, rt.plural), name)
            created = self.create(rt, namespace, applied, version=version, dry_run=dry_run)
            if not dry_run:
                self._applied[key] = copy.deepcopy(applied)
            return created, True
        new = apply_patch(old, applied, self._applied.get(key), rt.patch_meta)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        self._check_identity(rt, namespace, name, new)
        result = self._commit_update(rt, old, new, subresource, dry_run, check_rv=True)
        if not dry_run:
            self._applied[key] = copy.deepcopy(applied)
        return result, False

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        uid: str = "",
        resource_version: str = "",
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """DELETE; returns (object, gone). With finalizers the object stays, marked for deletion."""
        with self.lock:
            old = self.get(rt, namespace, name)
            gr = GroupResource(rt.group, rt.plural)
            meta = old["metadata"]
            if uid and uid != meta.get("uid"):
                raise ApiError.conflict(
                    gr, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}"
                )
            if resource_version and resource_version != meta.get("resourceVersion"):
                raise ApiError.conflict(
                    gr,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{resource_version}, ResourceVersion in object meta: {meta.get('resourceVersion')}",
                )
            if dry_run:
                return old, not meta.get("finalizers")
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return old, False
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                self._revision += 1
                new["metadata"]["resourceVersion"] = str(self._revision)
                self._bucket(rt)[(namespace if rt.namespaced else "", name)] = new
                self._emit("MODIFIED", rt, new, old, "")
                return copy.deepcopy(new), False
            self._drop(rt, namespace if rt.namespaced else "", name)
            if rt.group == "" and rt.plural == "namespaces":
                for other in self.registry:
                    if other.namespaced:
                        for ns, obj_name in [k for k in self._bucket(other) if k[0] == name]:
                            self._drop(other, ns, obj_name)
            return old, True

    def set_status(self, rt: ResourceType, namespace: str, name: str, status: Any) -> Obj:
        """Write ``status`` unconditionally, as a controller's status update does (no-op if unchanged)."""
        with self.lock:
            old = self.get(rt, namespace, name)
            new = copy.deepcopy(old)
            new["status"] = copy.deepcopy(status)
            return self._commit_update(rt, old, new, "status", False, check_rv=False)

    def set_replicas(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        replicas: Any,
        *,
        resource_version: str = "",
        dry_run: bool = False,
    ) -> Obj:
        """A write through the ``scale`` subresource: only ``spec.replicas`` changes."""
        with self.lock:
            old = self.get(rt, namespace, name)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError.invalid(
                    "Scale",
                    "autoscaling",
                    name,
                    [
                        Cause(
                            "FieldValueInvalid",
                            f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                            "spec.replicas",
                        )
                    ],
                )
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["replicas"] = replicas
            if resource_version:
                new["metadata"]["resourceVersion"] = resource_version
            return self._commit_update(rt, old, new, "scale", dry_run, check_rv=True)

    def _drop(self, rt: ResourceType, ns: str, name: str) -> None:
        old = self._bucket(rt).pop((ns, name))
        self._revision += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self._revision)
        self._emit("DELETED", rt, gone, old, "")

    # -- the common update path -----------------------------------------------------------------------

    def _decode_body(self, rt: ResourceType, body: Any, version: str) -> Obj:
        if not isinstance(body, dict):
            raise ApiError.bad_request(f"the body of the request must be a {rt.kind} object")
        obj = copy.deepcopy(body)
        expected = rt.api_version(version)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not rt.builtin and (not api_version or not kind):
            missing = "Kind" if not kind else "apiVersion"
            raise ApiError.bad_request(f"Object '{missing}' is missing in '{json.dumps(body)[:200]}'")
        if api_version and api_version != expected:
            raise ApiError.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({expected})"
            )
        if kind and kind != rt.kind:
            raise ApiError.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        if "apiVersion" not in obj or "kind" not in obj:
            rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            obj = {"apiVersion": expected, "kind": rt.kind, **rest}
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be an object")
        return obj

    def _check_identity(self, rt: ResourceType, namespace: str, name: str, new: Obj) -> None:
        meta = new["metadata"]
        if meta.get("name", name) != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace", namespace) != namespace:
            raise ApiError.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )

    def _commit_update(
        self, rt: ResourceType, old: Obj, new: Obj, subresource: str, dry_run: bool, *, check_rv: bool
    ) -> Obj:
        gr = GroupResource(rt.group, rt.plural)
        name = old["metadata"]["name"]
        meta = new["metadata"]
        if check_rv and meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise ApiError.stale(gr, name)
        uid = meta.get("uid")
        if uid and uid != old["metadata"].get("uid"):
            raise ApiError.conflict(
                gr,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {old['metadata'].get('uid')}",
            )
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            if rt.status:
                if "status" in old:
                    result["status"] = copy.deepcopy(old["status"])
                else:
                    result.pop("status", None)
            rmeta = result["metadata"]
            for meta_key in _SYSTEM_META:
                if meta_key in old["metadata"]:
                    _set_in_order(rmeta, meta_key, old["metadata"][meta_key])
                else:
                    rmeta.pop(meta_key, None)
            rmeta["name"] = name
            if rt.namespaced:
                rmeta["namespace"] = old["metadata"]["namespace"]
            _prepare_for_update(rt, result)
            if rt.generation and _spec_changed(rt, old, result):
                rmeta["generation"] = int(old["metadata"].get("generation", 1)) + 1
            causes = validate(rt, result, old)
            if causes:
                raise ApiError.invalid(rt.kind, rt.group, name, causes)
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        for hook in list(self.admission):
            hook("UPDATE", rt, result, old)
        if result == old:
            return copy.deepcopy(old)  # a no-op: nothing committed, resourceVersion unchanged
        if dry_run:
            return copy.deepcopy(result)
        key = (old["metadata"].get("namespace", "") if rt.namespaced else "", name)
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            self._bucket(rt)[key] = result
            self._drop(rt, *key)
            return copy.deepcopy(result)
        self._revision += 1
        result["metadata"]["resourceVersion"] = str(self._revision)
        self._bucket(rt)[key] = result
        self._emit("MODIFIED", rt, result, old, subresource)
        return copy.deepcopy(result)

    # -- events ---------------------------------------------------------------------------------------

    def _emit(self, type_: str, rt: ResourceType, obj: Obj, old: Obj | None, subresource: str) -> None:
        event = WriteEvent(
            type_, rt, copy.deepcopy(obj), copy.deepcopy(old) if old else None, subresource, self._revision
        )
        self._history.append((self._revision, event))
        self._local.commits = self.commits_by_this_thread() + 1
        for listener in list(self.listeners):
            listener(event)
        self.changed.notify_all()

    def events_since(self, revision: int) -> tuple[list[WriteEvent], bool]:
        """Committed events after ``revision``; False when the history no longer reaches back that far."""
        with self.lock:
            events = self._history
            if events and revision < events[0][0] - 1 and revision < self._revision:
                return [], False
            return [e for rv, e in events if rv > revision], True


# -- strategies -----------------------------------------------------------------------------------------


def _set_in_order(meta: Obj, key: str, value: Any, *, before: str = "", after: str = "") -> None:
    """Set ``key``; a new key goes next to ``before``/``after`` when they exist, else at the end."""
    if key in meta or not (before in meta or after in meta):
        meta[key] = value
        return
    items = list(meta.items())
    meta.clear()
    for k, v in items:
        if k == before:
            meta[key] = value
        meta[k] = v
        if k == after:
            meta[key] = value


def _namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _invalid(rt: ResourceType, name: str, field_path: str, reason: str, message: str) -> ApiError:
    return ApiError.invalid(rt.kind, rt.group, name, [Cause(reason, message, field_path)])


_NAME_RULES = {
    "subdomain": (
        _DNS1123_SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    "label": (
        _DNS1123_LABEL,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
        "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "dns1035": (
        _DNS1035_LABEL,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}


def _validate_name(rt: ResourceType, name: str) -> None:
    """The name rule of the kind: namespaces are RFC 1123 labels, Services DNS-1035 labels, others subdomains."""
    rule = "subdomain"
    if rt.group == "" and rt.plural == "namespaces":
        rule = "label"
    elif rt.group == "" and rt.plural == "services":
        rule = "dns1035"
    pattern, limit, detail = _NAME_RULES[rule]
    if len(name) > limit:
        raise _invalid(
            rt,
            name,
            "metadata.name",
            "FieldValueInvalid",
            f'Invalid value: "{name}": must be no more than {limit} characters',
        )
    if not pattern.match(name):
        raise _invalid(rt, name, "metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {detail}')


def _prepare_for_create(rt: ResourceType, obj: Obj) -> None:
    """Status reset and the defaults the real server fills in that our step and controllers rely on."""
    if rt.status:
        if rt.builtin:
            initial: Obj = {}
            if rt.kind == "Namespace":
                initial = {"phase": "Active"}
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            elif rt.kind == "Pod":
                initial = {"phase": "Pending"}
            elif rt.kind == "Service":
                initial = {"loadBalancer": {}}
            obj["status"] = initial
        else:
            obj.pop("status", None)
    _prepare_for_update(rt, obj)
    if rt.group == "apps" and rt.kind in ("Deployment", "ReplicaSet"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        if rt.kind == "Deployment":
            spec.setdefault(
                "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
            )
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)


def _prepare_for_update(rt: ResourceType, obj: Obj) -> None:
    if rt.group == "" and rt.kind == "Secret" and isinstance(obj.get("stringData"), dict):
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _spec_changed(rt: ResourceType, old: Obj, new: Obj) -> bool:
    skip = {"metadata", "status"} if rt.status else {"metadata"}
    strip: Callable[[Obj], Obj] = lambda o: {k: v for k, v in o.items() if k not in skip}  # noqa: E731
    return strip(old) != strip(new)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares (``source`` is ``source.component`` on core Events)."""
    if path == "source":
        path = "source.component"
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)

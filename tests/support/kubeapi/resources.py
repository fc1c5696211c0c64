"""The kinds the in-memory API server knows: one :class:`ResourceType` per (group, resource).

A resource is stored once per group and served at every version the group lists (apiVersion rewritten on
read), the way a CRD with several served versions and the ``None`` conversion strategy behaves. Where the
real server differs per kind (does an update need ``resourceVersion``? is there a ``status`` subresource?
does ``metadata.generation`` move? what does DELETE answer?) the difference is a field here, set to what
the upstream registry strategy does, so the step meets the same rules as on a cluster.

Strategic merge patch needs the merge keys Go struct tags carry (``patchMergeKey``/``patchStrategy``);
:data:`POD_SPEC` and friends copy the ones our step and kubectl exercise.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_RESOURCES",
    "FieldMeta",
    "Registry",
    "ResourceType",
    "crd",
]


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """Strategic-merge metadata of one field (the Go ``patchMergeKey`` / ``patchStrategy`` tags).

    ``merge_key`` set: a list of objects merged element by element on that key. ``strategy`` containing
    ``merge`` without a key: a list of primitives merged as a set. ``retainKeys``: the patch's keys replace
    the object's (other keys are cleared). ``fields`` describes the children of the object, or of each list
    element.
    """

    merge_key: str = ""
    strategy: str = ""
    fields: Mapping[str, FieldMeta] = field(default_factory=dict)


def _fm(merge_key: str = "", strategy: str = "", fields: Mapping[str, FieldMeta] | None = None) -> FieldMeta:
    return FieldMeta(merge_key, strategy, fields or {})


OBJECT_META: Mapping[str, FieldMeta] = {
    "finalizers": _fm(strategy="merge"),
    "ownerReferences": _fm("uid", "merge"),
}
CONTAINER: Mapping[str, FieldMeta] = {
    "ports": _fm("containerPort", "merge"),
    "env": _fm("name", "merge"),
    "volumeMounts": _fm("mountPath", "merge"),
    "volumeDevices": _fm("devicePath", "merge"),
}
POD_SPEC: Mapping[str, FieldMeta] = {
    "containers": _fm("name", "merge", CONTAINER),
    "initContainers": _fm("name", "merge", CONTAINER),
    "ephemeralContainers": _fm("name", "merge", CONTAINER),
    "volumes": _fm("name", "merge,retainKeys"),
    "imagePullSecrets": _fm("name", "merge"),
    "hostAliases": _fm("ip", "merge"),
    "topologySpreadConstraints": _fm("topologyKey", "merge"),
    "resourceClaims": _fm("name", "merge,retainKeys"),
    "schedulingGates": _fm("name", "merge"),
}
POD_TEMPLATE: Mapping[str, FieldMeta] = {"metadata": _fm(fields=OBJECT_META), "spec": _fm(fields=POD_SPEC)}
CONDITIONS = _fm("type", "merge")

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One REST resource of the server: how it is addressed, listed in discovery, and stored."""

    group: str
    versions: tuple[str, ...]
    """Served versions, preferred first; objects are stored once and served at each."""
    kind: str
    plural: str
    namespaced: bool = True
    status: bool = False
    """Has a ``status`` subresource: main-resource writes keep the old status, ``/status`` writes change only it."""
    scale: bool = False
    """Has a ``scale`` subresource (``autoscaling/v1`` ``Scale`` over ``spec.replicas``)."""
    builtin: bool = False
    """Compiled into the API server (strategic merge patch allowed, list items without kind/apiVersion)."""
    generation: bool = True
    """``metadata.generation`` is maintained (every CRD and the workload kinds; not ConfigMap, Secret...)."""
    unconditional_update: bool | None = None
    """PUT without ``metadata.resourceVersion`` allowed; defaults to ``builtin`` (CRDs always require it)."""
    delete_returns_object: bool = False
    """DELETE answers the deleted object (``ReturnDeletedObject``) instead of a ``Status``."""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = ()
    """Field selector labels beyond ``metadata.name`` / ``metadata.namespace``."""
    patch_meta: Mapping[str, FieldMeta] = field(default_factory=dict)
    """Strategic-merge metadata from the object's root (built-in kinds only)."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def allows_unconditional_update(self) -> bool:
        return self.builtin if self.unconditional_update is None else self.unconditional_update

    @property
    def key(self) -> tuple[str, str]:
        """The storage key: one store per group and resource, whatever the version."""
        return (self.group, self.plural)

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return f"{self.group}/{v}" if self.group else v

    def qualified(self) -> str:
        """``deployments.apps``, ``configmaps``: how messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def crd(
    group: str,
    versions: tuple[str, ...],
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    status: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
) -> ResourceType:
    """A custom resource as a CRD would declare it (no strategic merge, resourceVersion required on PUT)."""
    return ResourceType(
        group,
        versions,
        kind,
        plural,
        namespaced=namespaced,
        status=status,
        short_names=short_names,
        categories=categories,
    )


def _builtin(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    status: bool = False,
    scale: bool = False,
    generation: bool = False,
    delete_returns_object: bool = False,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    field_labels: tuple[str, ...] = (),
    patch_meta: Mapping[str, FieldMeta] | None = None,
) -> ResourceType:
    meta: dict[str, FieldMeta] = {"metadata": _fm(fields=OBJECT_META)}
    meta.update(patch_meta or {})
    return ResourceType(
        group,
        (version,),
        kind,
        plural,
        namespaced=namespaced,
        status=status,
        scale=scale,
        builtin=True,
        generation=generation,
        delete_returns_object=delete_returns_object,
        short_names=short_names,
        categories=categories,
        field_labels=field_labels,
        patch_meta=meta,
    )


_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_WORKLOAD_META: Mapping[str, FieldMeta] = {
    "spec": _fm(fields={"template": _fm(fields=POD_TEMPLATE), "strategy": _fm(strategy="retainKeys")}),
    "status": _fm(fields={"conditions": CONDITIONS}),
}

DEFAULT_RESOURCES: tuple[ResourceType, ...] = (
    # core/v1
    _builtin("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _builtin("", "v1", "Secret", "secrets", field_labels=("type",)),
    _builtin(
        "",
        "v1",
        "Service",
        "services",
        status=True,
        delete_returns_object=True,
        short_names=("svc",),
        categories=("all",),
        patch_meta={"spec": _fm(fields={"ports": _fm("port", "merge")})},
    ),
    _builtin(
        "",
        "v1",
        "Pod",
        "pods",
        status=True,
        delete_returns_object=True,
        short_names=("po",),
        categories=("all",),
        field_labels=(
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ),
        patch_meta={"spec": _fm(fields=POD_SPEC), "status": _fm(fields={"conditions": CONDITIONS})},
    ),
    _builtin("", "v1", "Event", "events", short_names=("ev",), field_labels=_EVENT_FIELDS),
    _builtin(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        delete_returns_object=True,
        short_names=("sa",),
        patch_meta={"secrets": _fm("name", "merge")},
    ),
    _builtin(
        "",
        "v1",
        "Namespace",
        "namespaces",
        namespaced=False,
        status=True,
        delete_returns_object=True,
        short_names=("ns",),
        field_labels=("status.phase",),
    ),
    # events.k8s.io/v1 (stored apart from core/v1 Events here; the real server converts between the two)
    _builtin(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        short_names=("ev",),
        field_labels=("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "reason", "type"),
    ),
    # apps/v1
    _builtin(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        status=True,
        scale=True,
        generation=True,
        short_names=("deploy",),
        categories=("all",),
        patch_meta=_WORKLOAD_META,
    ),
    _builtin(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        status=True,
        scale=True,
        generation=True,
        short_names=("rs",),
        categories=("all",),
        field_labels=("status.replicas",),
        patch_meta=_WORKLOAD_META,
    ),
    # networking.k8s.io/v1 (Ingress rules and tls carry no patch strategy: lists are replaced)
    _builtin("networking.k8s.io", "v1", "Ingress", "ingresses", status=True, generation=True, short_names=("ing",)),
    # rbac.authorization.k8s.io/v1
    _builtin("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    # Gateway API
    crd("gateway.networking.k8s.io", ("v1", "v1beta1"), "HTTPRoute", "httproutes", categories=("gateway-api",)),
    crd("gateway.networking.k8s.io", ("v1", "v1beta1"), "Gateway", "gateways", short_names=("gtw",)),
    # Istio
    crd(
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "VirtualService",
        "virtualservices",
        short_names=("vs",),
        categories=("istio-io", "networking-istio-io"),
    ),
    crd(
        "networking.istio.io",
        ("v1", "v1beta1", "v1alpha3"),
        "DestinationRule",
        "destinationrules",
        short_names=("dr",),
        categories=("istio-io", "networking-istio-io"),
    ),
    # Traefik (the current group and the pre-v3 one are two different CRDs)
    crd("traefik.io", ("v1alpha1",), "TraefikService", "traefikservices", status=False),
    crd("traefik.containo.us", ("v1alpha1",), "TraefikService", "traefikservices", status=False),
    # SMI: one CRD served at four versions with the None conversion (v1alpha1 weights are quantities)
    crd(
        "split.smi-spec.io",
        ("v1alpha4", "v1alpha3", "v1alpha2", "v1alpha1"),
        "TrafficSplit",
        "trafficsplits",
        status=False,
        short_names=("ts",),
    ),
    # Contour
    crd("projectcontour.io", ("v1",), "HTTPProxy", "httpproxies", short_names=("proxy", "proxies")),
    # Tekton
    crd("tekton.dev", ("v1",), "Task", "tasks", categories=("tekton", "tekton-pipelines")),
    crd("tekton.dev", ("v1",), "Pipeline", "pipelines", categories=("tekton", "tekton-pipelines")),
    crd(
        "tekton.dev",
        ("v1",),
        "PipelineRun",
        "pipelineruns",
        short_names=("pr", "prs"),
        categories=("tekton", "tekton-pipelines"),
    ),
    crd(
        "tekton.dev",
        ("v1",),
        "TaskRun",
        "taskruns",
        short_names=("tr", "trs"),
        categories=("tekton", "tekton-pipelines"),
    ),
)


class Registry:
    """The kinds one server serves. Thread-safe; tests may :meth:`register` more (e.g. a CRD of their own)."""

    def __init__(self, resources: tuple[ResourceType, ...] = DEFAULT_RESOURCES) -> None:
        self._lock = threading.Lock()
        self._types: dict[tuple[str, str], ResourceType] = {}
        for rt in resources:
            self.register(rt)

    def reset(self, resources: tuple[ResourceType, ...] = DEFAULT_RESOURCES) -> None:
        """Serve exactly ``resources`` again (drops what tests registered)."""
        with self._lock:
            self._types = {rt.key: rt for rt in resources}

    def register(self, rt: ResourceType) -> None:
        """Add (or replace) a resource; a replacement keeps no objects of its own, the store is keyed apart."""
        with self._lock:
            self._types[rt.key] = rt

    def unregister(self, group: str, plural: str) -> None:
        with self._lock:
            self._types.pop((group, plural), None)

    def __iter__(self) -> Iterator[ResourceType]:
        with self._lock:
            return iter(list(self._types.values()))

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at ``/apis/<group>/<version>/<plural>``, or None."""
        with self._lock:
            rt = self._types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        return rt

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        """The resource of an object's ``apiVersion`` + ``kind``; KeyError names both when unknown."""
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._types.values():
                if rt.group == group and rt.kind == kind and version in rt.versions:
                    return rt
        raise KeyError(f"no resource of kind {kind!r} is served at apiVersion {api_version!r}")

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first (the order ``/apis`` lists them)."""
        out: dict[str, list[str]] = {}
        for rt in self:
            versions = out.setdefault(rt.group, [])
            for v in rt.versions:
                if v not in versions:
                    versions.append(v)
        for group, versions in out.items():
            out[group] = sorted(versions, key=version_priority)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return sorted((rt for rt in self if rt.group == group and version in rt.versions), key=lambda r: r.plural)


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering (``v1`` > ``v1beta2`` > ``v1beta1`` > ``v1alpha1``), as a sort key."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if m is None:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)

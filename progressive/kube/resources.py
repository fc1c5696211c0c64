"""The kinds the step reads and writes: API group, version, plural, and the URL of an object.

The step talks to the REST paths directly (through the official client's REST layer), so it needs the
plural resource name of every kind; this module is the one place they are written down. Routing objects
may be served at another version of their group (``--api-version``): :meth:`Resource.at` makes that copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote

__all__ = [
    "CONFIGMAPS",
    "DEPLOYMENTS",
    "EVENTS",
    "HTTPPROXIES",
    "HTTPROUTES",
    "INGRESSES",
    "LEASES",
    "PIPELINERUNS",
    "PODS",
    "SECRETS",
    "TRAEFIKSERVICES",
    "TRAFFICSPLITS",
    "VIRTUALSERVICES",
    "Ref",
    "Resource",
]


@dataclass(frozen=True, slots=True)
class Resource:
    """One namespaced resource at one version."""

    api_version: str
    """``v1`` for the core group, else ``group/version``."""
    kind: str
    plural: str

    @property
    def group(self) -> str:
        """API group, ``""`` for core."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """Version within the group."""
        return self.api_version.rpartition("/")[2]

    def at(self, api_version: str) -> Resource:
        """The same kind served at ``api_version`` (``""``: unchanged)."""
        return replace(self, api_version=api_version) if api_version else self

    def collection(self, namespace: str) -> str:
        """URL path of the resource's collection in ``namespace``."""
        root = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        return f"{root}/namespaces/{quote(namespace, safe='')}/{self.plural}"

    def ref(self, namespace: str, name: str) -> Ref:
        """A reference to one object of this resource."""
        return Ref(self, namespace, name)


@dataclass(frozen=True, slots=True)
class Ref:
    """One object: resource, namespace and name. ``str()`` is how messages name it."""

    resource: Resource
    namespace: str
    name: str

    @property
    def path(self) -> str:
        """URL path of the object."""
        return f"{self.resource.collection(self.namespace)}/{quote(self.name, safe='')}"

    @property
    def qualified(self) -> str:
        """``NAMESPACE/NAME``, as in the step's JSON output."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.resource.kind} {self.namespace}/{self.name}"


CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
EVENTS = Resource("v1", "Event", "events")
PODS = Resource("v1", "Pod", "pods")
SECRETS = Resource("v1", "Secret", "secrets")
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
INGRESSES = Resource("networking.k8s.io/v1", "Ingress", "ingresses")
HTTPROUTES = Resource("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes")
VIRTUALSERVICES = Resource("networking.istio.io/v1", "VirtualService", "virtualservices")
TRAEFIKSERVICES = Resource("traefik.io/v1alpha1", "TraefikService", "traefikservices")
TRAFFICSPLITS = Resource("split.smi-spec.io/v1alpha2", "TrafficSplit", "trafficsplits")
HTTPPROXIES = Resource("projectcontour.io/v1", "HTTPProxy", "httpproxies")
LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases")
PIPELINERUNS = Resource("tekton.dev/v1", "PipelineRun", "pipelineruns")

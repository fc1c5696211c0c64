"""Traffic routers: which object carries the weights and which backends are stable and canary.

One class per provider. Every router edits an object the user owns, in place, and only its weights
(NGINX is the exception: it creates and removes its own canary Ingress). ``docs/routers.md`` shows what
each one changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from progressive.model._base import (
    DnsSubdomain,
    Duration,
    FieldError,
    FrozenModel,
    Items,
    ServiceName,
    register_tags,
)
from progressive.model.workload import Workload
from progressive.naming import DNS_SUBDOMAIN_MAX

__all__ = [
    "SMI",
    "Contour",
    "GatewayAPI",
    "Istio",
    "IstioApiVersion",
    "NginxIngress",
    "ReplicaRatio",
    "Router",
    "SmiApiVersion",
    "Traefik",
    "TraefikApiVersion",
]


IstioApiVersion = Literal["networking.istio.io/v1", "networking.istio.io/v1beta1"]
"""The VirtualService apiVersions the routers read and write."""
SmiApiVersion = Literal[
    "split.smi-spec.io/v1alpha1",
    "split.smi-spec.io/v1alpha2",
    "split.smi-spec.io/v1alpha3",
    "split.smi-spec.io/v1alpha4",
]
"""The TrafficSplit apiVersions the routers read and write (v1alpha1 weights are quantities)."""
TraefikApiVersion = Literal["traefik.io/v1alpha1", "traefik.containo.us/v1alpha1"]
"""The TraefikService apiVersions the routers read and write (traefik.containo.us: before Traefik v3)."""


class _RouterBase(FrozenModel):
    """What every router tells the step."""

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Values of the router flags of ``progressive step set-weight`` (see ``progressive.contract``)."""
        raise NotImplementedError


class _TwoServices(_RouterBase):
    """A router whose backends are two Services: they must differ, or every weight is a no-op.

    The subclasses declare both fields (where they list them, so the reference keeps their order).
    """

    if TYPE_CHECKING:
        stable_service: str
        canary_service: str

    @model_validator(mode="after")
    def _distinct_services(self) -> _TwoServices:
        if self.stable_service == self.canary_service:
            raise FieldError(
                "canary_service",
                f"{self.canary_service!r} is also stable_service; "
                "the canary needs its own Service, or no weight would move any traffic",
            )
        return self


class GatewayAPI(_TwoServices):
    """A Gateway API ``HTTPRoute`` (gateway.networking.k8s.io/v1) whose rules send traffic to both Services.

    Every rule that references the stable Service gets stable ``100-W`` and canary ``W``; then the step
    waits until every parent Gateway reports ``Accepted=True`` at the route's current generation.
    """

    type: Literal["gateway-api"] = "gateway-api"
    route: DnsSubdomain = Field(description="Name of the HTTPRoute.")
    stable_service: ServiceName = Field(description="Service of the stable version (a backendRef name).")
    canary_service: ServiceName = Field(description="Service of the canary version (a backendRef name).")
    wait_accepted: bool = Field(
        default=True,
        description="Wait for Accepted=True at the current generation; turn off for implementations "
        "that do not report route status.",
    )
    accepted_timeout: Duration = Field(default="2m", description="How long to wait for Accepted.")

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.route,
            "stable": self.stable_service,
            "canary": self.canary_service,
            "wait-accepted": str(self.wait_accepted).lower(),
            "accepted-timeout": self.accepted_timeout,
        }


class Istio(_RouterBase):
    """An Istio ``VirtualService``: weights of http, tls and tcp routes.

    Host mode (default): ``stable`` and ``canary`` are destination hosts (Service names, short or
    cluster-local FQDN). Subset mode (``subsets=True``): they are subset names of one host, defined in a
    DestinationRule the user owns.
    """

    type: Literal["istio"] = "istio"
    virtual_service: DnsSubdomain = Field(description="Name of the VirtualService.")
    stable: DnsSubdomain = Field(description="Stable destination host, or subset name in subset mode.")
    canary: DnsSubdomain = Field(description="Canary destination host, or subset name in subset mode.")
    subsets: bool = Field(default=False, description="stable and canary name subsets, not hosts.")
    routes: Items[DnsSubdomain] = Field(
        default=(), description="Names of the http routes to change; empty: every route with both backends."
    )
    api_version: IstioApiVersion = Field(
        default="networking.istio.io/v1",
        description="apiVersion the VirtualService is read and written with.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> Istio:
        if self.stable == self.canary:
            raise ValueError(f"stable and canary are both {self.stable!r}; they must differ")
        return self

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.virtual_service,
            "stable": self.stable,
            "canary": self.canary,
            "istio-subsets": str(self.subsets).lower(),
            "routes": ",".join(self.routes),
            "api-version": self.api_version,
        }


_CANARY_INGRESS_SUFFIX = "-canary"


class NginxIngress(_TwoServices):
    """ingress-nginx canary annotations on a canary Ingress derived from the stable one.

    The step creates ``<ingress>-canary`` with only the rules that point at the stable Service, switched
    to the canary Service, and annotates it ``canary: "true"`` and ``canary-weight: "W"``; clean-up
    removes it. Note that the ingress-nginx project was retired in March 2026; prefer Gateway API.
    """

    type: Literal["nginx"] = "nginx"
    ingress: DnsSubdomain = Field(description="Name of the stable Ingress.")
    stable_service: ServiceName = Field(description="Service the stable Ingress routes to.")
    canary_service: ServiceName = Field(description="Service of the canary version.")
    annotation_prefix: DnsSubdomain = Field(
        default="nginx.ingress.kubernetes.io", description="Annotation prefix of the ingress controller."
    )

    @model_validator(mode="after")
    def _canary_name_fits(self) -> NginxIngress:
        if len(self.ingress) + len(_CANARY_INGRESS_SUFFIX) > DNS_SUBDOMAIN_MAX:
            raise ValueError(f"ingress: {self.ingress!r} is too long for the derived name <ingress>-canary")
        return self

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.ingress,
            "stable": self.stable_service,
            "canary": self.canary_service,
            "annotation-prefix": self.annotation_prefix,
        }


class Traefik(_TwoServices):
    """A Traefik ``TraefikService`` with weighted services (``spec.weighted.services[].weight``)."""

    type: Literal["traefik"] = "traefik"
    traefik_service: DnsSubdomain = Field(description="Name of the TraefikService.")
    stable_service: ServiceName = Field(description="Stable entry of spec.weighted.services.")
    canary_service: ServiceName = Field(description="Canary entry of spec.weighted.services.")
    api_version: TraefikApiVersion = Field(
        default="traefik.io/v1alpha1", description="traefik.containo.us is the group before Traefik v3."
    )

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.traefik_service,
            "stable": self.stable_service,
            "canary": self.canary_service,
            "api-version": self.api_version,
        }


class SMI(_TwoServices):
    """An SMI ``TrafficSplit`` (Linkerd with linkerd-smi, OSM): ``spec.backends[].weight``."""

    type: Literal["smi"] = "smi"
    traffic_split: DnsSubdomain = Field(description="Name of the TrafficSplit.")
    stable_service: ServiceName = Field(description="Stable backend service.")
    canary_service: ServiceName = Field(description="Canary backend service.")
    api_version: SmiApiVersion = Field(
        default="split.smi-spec.io/v1alpha2",
        description='v1alpha1 weights are quantities ("50"), later versions integers.',
    )

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.traffic_split,
            "stable": self.stable_service,
            "canary": self.canary_service,
            "api-version": self.api_version,
        }


class Contour(_TwoServices):
    """A Contour ``HTTPProxy`` (projectcontour.io/v1): ``spec.routes[].services[].weight``."""

    type: Literal["contour"] = "contour"
    http_proxy: DnsSubdomain = Field(description="Name of the HTTPProxy.")
    stable_service: ServiceName = Field(description="Stable service of the routes.")
    canary_service: ServiceName = Field(description="Canary service of the routes.")

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step."""
        return {
            "router": self.type,
            "name": self.http_proxy,
            "stable": self.stable_service,
            "canary": self.canary_service,
        }


class ReplicaRatio(_RouterBase):
    """No mesh: one Service selects the pods of both Deployments; traffic follows the replica ratio.

    The step scales the two Deployments so canary/total is as close to W as whole replicas allow, keeps
    the total at the stable's replica count when the rollout started (kept in the state record), and
    reports the effective weight.
    """

    type: Literal["replicas"] = "replicas"

    def step_flags(self, workload: Workload) -> dict[str, str]:
        """Flags for the step: the routing 'object' is the stable Deployment, the backends both Deployments."""
        return {
            "router": self.type,
            "name": workload.stable,
            "stable": workload.stable,
            "canary": workload.canary,
        }


Router = Annotated[
    GatewayAPI | Istio | NginxIngress | Traefik | SMI | Contour | ReplicaRatio,
    Field(discriminator="type"),
]
"""One of the routers, told apart by ``type``."""

register_tags("gateway-api", "istio", "nginx", "traefik", "smi", "contour", "replicas")

"""An ``App`` with several versions live at once: artifact and configuration paired by commit.

Each version is a commit (full SHA), an image pinned by digest, a configuration (key-values and/or files, which
become the files of one immutable ConfigMap), replicas and a traffic weight. Every version runs as its own
Deployment + Service + ConfigMap (:mod:`progressive.versions.objects`); one routing object carries every
version's weight, matched by Service name. Validation at construction: derived names fit Kubernetes' limits,
weights sum to 100, no more live versions than the router can route, commits (and their short forms) unique.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from progressive.model._base import (
    DnsLabel,
    DnsSubdomain,
    Duration,
    FieldError,
    FrozenModel,
    ImageRef,
    Items,
    PositiveDuration,
    ServiceName,
    Weight,
    duration_seconds,
    register_tags,
)
from progressive.model.analysis import Analysis
from progressive.model.routers import IstioApiVersion, SmiApiVersion, TraefikApiVersion
from progressive.model.steps import Analyze
from progressive.versions.naming import APP_NAME_MAX, is_commit, short, version_name
from progressive.versions.objects import AppSpec, VersionSpec

__all__ = [
    "VERSION_PROVIDERS",
    "App",
    "Configuration",
    "Version",
    "VersionsContour",
    "VersionsGatewayAPI",
    "VersionsIstio",
    "VersionsNginx",
    "VersionsReplicas",
    "VersionsRouter",
    "VersionsSMI",
    "VersionsTraefik",
]

GATEWAY_API_BACKENDS_MAX = 16
"""Gateway API allows at most 16 backendRefs per HTTPRoute rule (``HTTPRouteRule.BackendRefs``)."""
VERSION_PROVIDERS = ("istio", "linkerd", "generic")
"""Query families that can tell one version's requests from the others' (each has a ``-versions`` family)."""
NGINX_VERSIONS_MAX = 2
"""ingress-nginx: "a maximum of one canary ingress can be applied per Ingress rule", so two versions."""

_CONFIG_KEY_MAX = 253


def _check_commit(value: str) -> str:
    if not is_commit(value):
        raise ValueError(f"{value!r} is not a full commit id (40 lower-case hex digits, e.g. `git rev-parse HEAD`)")
    return value


def _check_digest_pinned(value: str) -> str:
    if "@sha256:" not in value:
        raise ValueError(f"{value!r} is not pinned by digest; a version's image must be repo[:tag]@sha256:<64 hex>")
    return value


def _check_config_key(key: str) -> str:
    allowed = all(c.isascii() and (c.isalnum() or c in "-._") for c in key)
    if not key or not allowed or key in {".", ".."} or len(key) > _CONFIG_KEY_MAX:
        raise ValueError(f"{key!r} is not a ConfigMap key (letters, digits, '-', '_' and '.'; it becomes a file name)")
    return key


Commit = Annotated[str, AfterValidator(_check_commit)]
"""A full 40-hex Git commit id."""


def _frozen_mapping(values: Mapping[str, str]) -> dict[str, str]:
    for key in values:
        _check_config_key(key)
    return dict(sorted(values.items()))


ConfigData = Annotated[Mapping[str, str], AfterValidator(_frozen_mapping)]


class Configuration(FrozenModel):
    """A version's configuration: ``values`` (one file per key) and ``files`` (file name -> content).

    Both end up as keys of one immutable ConfigMap mounted at the app's ``config_mount``; a key may appear in
    only one of them. ``Configuration.from_directory(path)`` reads the files of a folder (e.g. the repository's
    ``config/`` at that commit).
    """

    values: ConfigData = Field(default_factory=dict, description="Key-values, each a file holding its value.")
    files: ConfigData = Field(default_factory=dict, description="Files: name -> content.")
    pod_annotations: Mapping[str, str] = Field(
        default_factory=dict,
        description="Annotations this configuration puts on the version's pods (sidecar or scrape settings); "
        "part of the configuration's hash, so changing them rolls only this version's pods.",
    )

    @model_validator(mode="after")
    def _disjoint(self) -> Configuration:
        both = sorted(set(self.values) & set(self.files))
        if both:
            raise FieldError("files", f"{both!r} are also in values; a key may be in only one of them")
        return self

    @classmethod
    def from_directory(cls, path: str | Path) -> Configuration:
        """Every regular file directly in ``path`` (sorted by name), read as UTF-8 text."""
        folder = Path(path)
        files = {item.name: item.read_text(encoding="utf-8") for item in sorted(folder.iterdir()) if item.is_file()}
        return cls(files=files)

    def data(self) -> dict[str, str]:
        """The ConfigMap's data."""
        return dict(sorted({**self.values, **self.files}.items()))


class Version(FrozenModel):
    """One live version of the app: its commit, image, configuration, replicas and traffic weight."""

    commit: Commit = Field(description="Full commit id (40 hex); its first 7 digits name the version's objects.")
    image: Annotated[ImageRef, AfterValidator(_check_digest_pinned)] = Field(
        description="Container image pinned by digest: registry/repo[:tag]@sha256:<64 hex>."
    )
    config: Configuration = Field(default_factory=Configuration, description="The version's configuration.")
    replicas: int = Field(default=1, ge=0, description="Pods of this version.")
    weight: Weight = Field(description="Share of the traffic in percent; the weights of all versions sum to 100.")

    @model_validator(mode="after")
    def _serves_its_weight(self) -> Version:
        if self.weight > 0 and self.replicas == 0:
            # a plain message naming the field: "replicas" is also a router tag, which error paths leave out
            raise ValueError(f"replicas: 0 pods cannot serve weight {self.weight}; give it at least 1 replica")
        return self

    @property
    def short(self) -> str:
        """The commit's first 7 hex digits."""
        return short(self.commit)

    def spec(self) -> VersionSpec:
        """What the object builders and the step need."""
        return VersionSpec(
            commit=self.commit,
            image=self.image,
            config=self.config.data(),
            replicas=self.replicas,
            pod_annotations=dict(self.config.pod_annotations),
        )


class _VersionsRouterBase(FrozenModel):
    """A routing object every version's Service is a backend of."""

    def max_versions(self) -> int | None:
        """How many versions it can route at once (``None``: no limit of its own)."""
        return None

    def object_name(self) -> str:
        """Name of the routing object."""
        raise NotImplementedError


class VersionsGatewayAPI(_VersionsRouterBase):
    """A Gateway API ``HTTPRoute``: each rule that references a version's Service gets every version's weight."""

    type: Literal["gateway-api"] = "gateway-api"
    route: DnsSubdomain = Field(description="Name of the HTTPRoute.")
    wait_accepted: bool = Field(default=True, description="Wait for Accepted=True at the route's generation.")
    accepted_timeout: Duration = Field(default="2m", description="How long to wait for Accepted.")

    def max_versions(self) -> int | None:
        """16 backendRefs per rule."""
        return GATEWAY_API_BACKENDS_MAX

    def object_name(self) -> str:
        """The HTTPRoute."""
        return self.route


class VersionsIstio(_VersionsRouterBase):
    """An Istio ``VirtualService``: each http route that sends to a version's host gets every version's weight."""

    type: Literal["istio"] = "istio"
    virtual_service: DnsSubdomain = Field(description="Name of the VirtualService.")
    api_version: IstioApiVersion = Field(
        default="networking.istio.io/v1", description="apiVersion the VirtualService is read and written with."
    )

    def object_name(self) -> str:
        """The VirtualService."""
        return self.virtual_service


class VersionsSMI(_VersionsRouterBase):
    """An SMI ``TrafficSplit`` (Linkerd's SMI extension, OSM): ``spec.backends`` gets every version's weight."""

    type: Literal["smi"] = "smi"
    traffic_split: DnsSubdomain = Field(description="Name of the TrafficSplit.")
    api_version: SmiApiVersion = Field(
        default="split.smi-spec.io/v1alpha2",
        description="apiVersion the TrafficSplit is read and written with (v1alpha1 weights are quantities).",
    )

    def object_name(self) -> str:
        """The TrafficSplit."""
        return self.traffic_split


class VersionsTraefik(_VersionsRouterBase):
    """A Traefik ``TraefikService``: ``spec.weighted.services`` gets every version's weight."""

    type: Literal["traefik"] = "traefik"
    traefik_service: DnsSubdomain = Field(description="Name of the TraefikService.")
    api_version: TraefikApiVersion = Field(
        default="traefik.io/v1alpha1",
        description="apiVersion the TraefikService is read and written with (Traefik v2: traefik.containo.us).",
    )

    def object_name(self) -> str:
        """The TraefikService."""
        return self.traefik_service


class VersionsContour(_VersionsRouterBase):
    """A Contour ``HTTPProxy``: each route whose services include a version's gets every version's weight."""

    type: Literal["contour"] = "contour"
    http_proxy: DnsSubdomain = Field(description="Name of the HTTPProxy.")
    wait_accepted: bool = Field(default=True, description="Wait for Valid=True at the HTTPProxy's generation.")
    accepted_timeout: Duration = Field(default="2m", description="How long to wait for Valid.")

    def object_name(self) -> str:
        """The HTTPProxy."""
        return self.http_proxy


class VersionsNginx(_VersionsRouterBase):
    """ingress-nginx: one canary Ingress per rule, so at most two versions."""

    type: Literal["nginx"] = "nginx"
    ingress: DnsSubdomain = Field(description="Name of the stable Ingress.")

    def max_versions(self) -> int | None:
        """Two: the stable Ingress and one canary Ingress."""
        return NGINX_VERSIONS_MAX

    def object_name(self) -> str:
        """The stable Ingress."""
        return self.ingress


class VersionsReplicas(_VersionsRouterBase):
    """No mesh: one Service of yours selects every version's pods; each version's share is its share of the pods.

    The capacity is the sum of the versions' replicas; set-weights scales each Deployment to its weight's share of
    it (whole pods, at least one for a version with weight).
    """

    type: Literal["replicas"] = "replicas"
    service: ServiceName = Field(description="The Service selecting app.kubernetes.io/name=<app> (every version).")
    accepted_timeout: Duration = Field(default="5m", description="How long the scaled Deployments may take.")

    def object_name(self) -> str:
        """The shared Service."""
        return self.service


VersionsRouter = Annotated[
    VersionsGatewayAPI
    | VersionsIstio
    | VersionsSMI
    | VersionsTraefik
    | VersionsContour
    | VersionsNginx
    | VersionsReplicas,
    Field(discriminator="type"),
]
"""The routing object of an app's versions, told apart by ``type``."""

register_tags("gateway-api", "istio", "smi", "traefik", "contour", "nginx")


class App(FrozenModel):
    """An app whose versions (commit + image + configuration) run side by side, each with a traffic weight."""

    name: DnsLabel = Field(description="App name: prefix of every derived name (<app>-<sha7>).")
    namespace: DnsLabel = Field(description="Namespace of the versions' objects and the routing object.")
    router: VersionsRouter = Field(description="Routing object that carries every version's weight.")
    metrics: Analysis | None = Field(
        default=None,
        description="Where analysis reads each version's metrics: Prometheus, the judge, and provider istio "
        "(destination_workload), linkerd (deployment) or generic (pod names) to tell versions apart.",
    )
    analyze: Analyze | None = Field(
        default=None,
        description="Judge a released version, and a version's new configuration, against the weighted rest of "
        "the app's versions (needs metrics); a bad verdict takes the new version back to 0, or the configuration "
        "back to the previous one. None: no analysis.",
    )
    versions: Items[Version] = Field(description="The versions live at once; weights sum to 100.")
    port: int = Field(default=8080, ge=1, le=65535, description="Container port and Service port.")
    container: DnsLabel = Field(default="app", description="Name of the app's container.")
    config_mount: str = Field(default="/etc/config", description="Where the configuration files appear.")
    keep_configmaps: int = Field(
        default=3, ge=1, le=20, description="Configurations (and ReplicaSets) kept per version for rollback."
    )
    progress_deadline: PositiveDuration = Field(default="10m", description="How long a version may take to roll out.")

    @field_validator("name")
    @classmethod
    def _name_fits(cls, name: str) -> str:
        if not name[0].isalpha():
            raise ValueError(f"{name!r} must start with a letter: <app>-<sha7> names a Service (RFC 1035 label)")
        if len(name) > APP_NAME_MAX:
            raise ValueError(
                f"{name!r} has {len(name)} characters; the Service name <app>-<sha7> needs it to have at most "
                f"{APP_NAME_MAX}"
            )
        return name

    @field_validator("config_mount")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/") or ":" in path:
            raise ValueError(f"{path!r} is not an absolute path without ':'")
        return path

    @model_validator(mode="after")
    def _coherent(self) -> App:
        problems: list[str] = []
        seen: dict[str, int] = {}
        for index, version in enumerate(self.versions):
            earlier = seen.get(version.short)
            if earlier is not None:
                same = self.versions[earlier].commit == version.commit
                why = "the same commit" if same else f"the same short commit {version.short!r}"
                problems.append(
                    f"versions[{index}].commit: {version.commit!r} has {why} as versions[{earlier}]; "
                    f"each version needs its own {version_name(self.name, version.commit)!r} objects"
                )
            else:
                seen[version.short] = index
        if self.versions:
            total = sum(version.weight for version in self.versions)
            if total != 100:
                weights = [version.weight for version in self.versions]
                problems.append(f"versions[].weight: {weights!r} sum to {total}; they must sum to 100")
        if self.analyze is not None and self.metrics is None:
            problems.append("analyze: judging versions needs metrics (Prometheus, provider and judge)")
        if self.metrics is not None and self.metrics.provider not in VERSION_PROVIDERS:
            problems.append(
                f"metrics.provider: {self.metrics.provider!r} cannot tell one version's requests from the others'; "
                f"use one of {', '.join(VERSION_PROVIDERS)}"
            )
        if self.analyze is not None and self.analyze.compare != "workloads":
            problems.append(f"analyze.compare: {self.analyze.compare!r}: an App compares versions (workloads)")
        limit = self.router.max_versions()
        if limit is not None and len(self.versions) > limit:
            problems.append(
                f"versions: {len(self.versions)} versions, but router {self.router.type} "
                f"({self.router.object_name()!r}) can route at most {limit} at once"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def spec(self) -> AppSpec:
        """What the object builders and the step need."""
        return AppSpec(
            name=self.name,
            namespace=self.namespace,
            port=self.port,
            container=self.container,
            config_mount=self.config_mount,
            progress_deadline=int(duration_seconds(self.progress_deadline)),
            history=self.keep_configmaps,
        )

    def version(self, commit: str) -> Version:
        """The version of ``commit`` (full or short); KeyError naming the known ones."""
        for version in self.versions:
            if commit in {version.commit, version.short}:
                return version
        known = ", ".join(version.short for version in self.versions)
        raise KeyError(f"app {self.name!r} has no version {commit!r}; known: {known}")

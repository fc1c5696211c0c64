"""The Kubernetes objects of one live version, built as plain JSON (pure, deterministic).

Per version: an immutable ConfigMap named by its content hash, a Deployment whose pod template mounts it as a
volume (never ``subPath``: a subPath mount is never updated, kubernetes/kubernetes#50345) and carries the hash
as the annotation :data:`CONFIG_HASH_ANNOTATION` (so a new configuration rolls that Deployment's pods, and only
those), and a Service selecting exactly that version's pods. The ConfigMap and the Service are owned by the
Deployment (``ownerReferences``), so deleting the Deployment removes them too.

Labels on all three: ``app.kubernetes.io/name`` and ``part-of`` (the app), ``version`` (the full commit),
``managed-by: progressive``. The Deployment's selector is ``name`` + ``version``: a Deployment's selector is
immutable, which is why every version has its own Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from progressive.versions.naming import config_hash, configmap_name, version_name

__all__ = [
    "APP_LABEL",
    "COMMIT_ANNOTATION",
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_VOLUME",
    "MANAGED_BY",
    "VERSION_LABEL",
    "AppSpec",
    "VersionSpec",
    "configmap",
    "deployment",
    "labels",
    "owner_reference",
    "selector",
    "service",
]

JSON = dict[str, Any]

APP_LABEL = "app.kubernetes.io/name"
VERSION_LABEL = "app.kubernetes.io/version"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "progressive"
CONFIG_HASH_ANNOTATION = "progressive.dev/config-hash"
"""On the pod template: the hash of the mounted configuration; changing it rolls the pods."""
CONFIGMAP_ANNOTATION = "progressive.dev/configmap"
"""On the pod template: the name of the mounted ConfigMap (read by ``progressive versions``)."""
COMMIT_ANNOTATION = "progressive.dev/commit"
CONFIG_VOLUME = "config"


@dataclass(frozen=True, slots=True)
class AppSpec:
    """What every version of an app shares."""

    name: str
    namespace: str
    port: int = 8080
    """Container port, and the Service port routing objects reference."""
    container: str = "app"
    config_mount: str = "/etc/config"
    """Where the configuration's files appear in the container."""
    progress_deadline: int = 600
    """``spec.progressDeadlineSeconds``: the Deployment controller reports ProgressDeadlineExceeded after it."""
    history: int = 3
    """``spec.revisionHistoryLimit``: old ReplicaSets kept, and the ConfigMaps they mount."""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """One version: a commit, its image (pinned by digest), its configuration and its replicas."""

    commit: str
    image: str
    config: Mapping[str, str] = field(default_factory=dict)
    """ConfigMap data: each key is a file in :attr:`AppSpec.config_mount`."""
    replicas: int = 1
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations this configuration puts on the pods (sidecar settings, scrape ports); part of the hash."""

    @property
    def config_hash(self) -> str:
        """Hash of the configuration (part of the ConfigMap's name)."""
        return config_hash(self.config, self.pod_annotations)

    def configmap_name(self, app: str) -> str:
        """Name of this configuration's ConfigMap."""
        return configmap_name(app, self.commit, self.config_hash)


def labels(app: str, commit: str) -> dict[str, str]:
    """The four labels every object of a version carries."""
    return {APP_LABEL: app, VERSION_LABEL: commit, PART_OF_LABEL: app, MANAGED_BY_LABEL: MANAGED_BY}


def selector(app: str, commit: str) -> dict[str, str]:
    """Labels that select exactly one version's pods (the Deployment's and the Service's selector)."""
    return {APP_LABEL: app, VERSION_LABEL: commit}


def owner_reference(deployment: JSON) -> JSON:
    """An ``ownerReferences`` entry pointing at ``deployment`` (as read from the server: it has a uid)."""
    metadata = deployment["metadata"]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": metadata["name"], "uid": metadata["uid"]}


def _metadata(app: AppSpec, name: str, commit: str, owner: JSON | None) -> JSON:
    metadata: JSON = {"name": name, "namespace": app.namespace, "labels": labels(app.name, commit)}
    if owner is not None:
        metadata["ownerReferences"] = [owner_reference(owner)]
    return metadata


def configmap(app: AppSpec, version: VersionSpec, owner: JSON | None = None) -> JSON:
    """The version's configuration as an immutable ConfigMap named by its hash."""
    metadata = _metadata(app, version.configmap_name(app.name), version.commit, owner)
    metadata["annotations"] = {CONFIG_HASH_ANNOTATION: version.config_hash}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata,
        "immutable": True,
        "data": dict(sorted(version.config.items())),
    }


def pod_template(app: AppSpec, version: VersionSpec) -> JSON:
    """The pod template: the image by digest, the configuration mounted as a whole volume (never subPath)."""
    return {
        "metadata": {
            "labels": labels(app.name, version.commit),
            "annotations": {
                **dict(sorted(version.pod_annotations.items())),
                CONFIG_HASH_ANNOTATION: version.config_hash,
                CONFIGMAP_ANNOTATION: version.configmap_name(app.name),
            },
        },
        "spec": {
            "containers": [
                {
                    "name": app.container,
                    "image": version.image,
                    "ports": [{"name": "http", "containerPort": app.port, "protocol": "TCP"}],
                    "volumeMounts": [{"name": CONFIG_VOLUME, "mountPath": app.config_mount, "readOnly": True}],
                }
            ],
            "volumes": [{"name": CONFIG_VOLUME, "configMap": {"name": version.configmap_name(app.name)}}],
        },
    }


def deployment(app: AppSpec, version: VersionSpec) -> JSON:
    """The version's Deployment."""
    metadata = _metadata(app, version_name(app.name, version.commit), version.commit, None)
    metadata["annotations"] = {COMMIT_ANNOTATION: version.commit}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": version.replicas,
            "revisionHistoryLimit": app.history,
            "progressDeadlineSeconds": app.progress_deadline,
            "selector": {"matchLabels": selector(app.name, version.commit)},
            "template": pod_template(app, version),
        },
    }


def service(app: AppSpec, version: VersionSpec, owner: JSON | None = None) -> JSON:
    """The version's Service: routing objects reference it by name (``<app>-<sha7>``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app, version_name(app.name, version.commit), version.commit, owner),
        "spec": {
            "selector": selector(app.name, version.commit),
            "ports": [{"name": "http", "port": app.port, "targetPort": app.port, "protocol": "TCP"}],
        },
    }

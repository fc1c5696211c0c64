"""Creating a version's objects idempotently: an object already there must be ours and equal, else exit 8."""

from __future__ import annotations

from typing import Any

from progressive.errors import UnsafeError, UsageError
from progressive.kube.objects import JSON, AlreadyExistsError, Objects
from progressive.kube.resources import CONFIGMAPS, DEPLOYMENTS, Ref, Resource
from progressive.versions import objects as build
from progressive.versions.naming import is_digest_pinned, version_name

__all__ = ["SERVICES", "config_flags", "ensure_configmap", "ensure_created", "is_version_object"]

SERVICES = Resource("v1", "Service", "services")


def is_version_object(obj: JSON, app: str, commit: str) -> bool:
    """Whether ``obj`` carries the labels of ``app``'s version ``commit`` and is managed by progressive."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(
        labels.get(build.APP_LABEL) == app
        and labels.get(build.VERSION_LABEL) == commit
        and labels.get(build.MANAGED_BY_LABEL) == build.MANAGED_BY
    )


def _not_ours(ref: Ref, app: str, commit: str) -> UnsafeError:
    return UnsafeError(
        f"{ref} exists but is not version {commit[:7]} of app {app!r} (labels {build.APP_LABEL}, "
        f"{build.VERSION_LABEL}, {build.MANAGED_BY_LABEL}); nothing was changed"
    )


def ensure_created(objects: Objects, ref: Ref, body: JSON, app: str, commit: str) -> tuple[JSON, bool]:
    """``ref`` as it is, created from ``body`` when missing; ``(object, created)``. Someone else's: exit 8."""
    found = objects.find(ref)
    if found is None:
        try:
            return objects.create(ref, body), True
        except AlreadyExistsError:
            found = objects.get(ref)
    if not is_version_object(found, app, commit):
        raise _not_ours(ref, app, commit)
    return found, False


def ensure_configmap(
    objects: Objects, app: build.AppSpec, version: build.VersionSpec, owner: JSON
) -> tuple[JSON, bool]:
    """The version's immutable ConfigMap for this configuration (owned by ``owner``), created when missing.

    One already there must hold exactly this data: the name is the content's hash, so anything else is a hash
    collision or a hand edit, and is refused (exit 8).
    """
    body = build.configmap(app, version, owner)
    ref = CONFIGMAPS.ref(app.namespace, body["metadata"]["name"])
    found, created = ensure_created(objects, ref, body, app.name, version.commit)
    if not created and (found.get("data") or {}) != body["data"]:
        raise UnsafeError(f"{ref} exists with other data than configuration {version.config_hash}; nothing was changed")
    return found, created


def _string_map(value: Any, flag: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UsageError(f"--{flag}: {value!r} is not a JSON object of strings")
    return dict(value)


def config_flags(config: Any, pod_annotations: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``--config`` and ``--pod-annotations``, checked."""
    data = _string_map(config, "config")
    for key in data:
        if not key or key in {".", ".."} or not all(c.isascii() and (c.isalnum() or c in "-._") for c in key):
            raise UsageError(f"--config: key {key!r} is not a ConfigMap key (letters, digits, '-', '_', '.')")
    return data, _string_map(pod_annotations, "pod-annotations")


def checked_image(image: str) -> str:
    """``--image``, pinned by digest."""
    if not is_digest_pinned(image):
        raise UsageError(f"--image: {image!r} is not pinned by digest (registry/repo[:tag]@sha256:<64 hex>)")
    return image


def deployment_ref(namespace: str, app: str, commit: str) -> Ref:
    """The version's Deployment."""
    return DEPLOYMENTS.ref(namespace, version_name(app, commit))

"""Pod features the executor cannot imitate, found before anything runs, so such a pod fails at once and says why.

A kubelet runs every valid pod; the executor runs host processes and imitates only what Tekton's TaskRun pods and
progressive's Tasks need (``../shared/specs/real-cluster.md`` §7.5). Anything else must not hang a test until the
TaskRun's timeout, nor run half-imitated: :func:`check` raises :class:`Unsupported` naming the feature, and the pod
is failed with that message (Tekton then fails the TaskRun with it). Refused:

* Tekton sidecars (containers other than ``step-*`` in a Tekton pod): Tekton stops a sidecar by swapping its image
  for the ``nop`` image, a restart the executor cannot perform; Kubernetes-native sidecars (init containers with
  ``restartPolicy: Always``) likewise;
* volume types other than ``emptyDir``, ``downwardAPI``, ``secret``, ``configMap``, ``projected`` (token,
  ConfigMap, Secret and downward API sources) and ``persistentVolumeClaim``;
* ``env[].valueFrom`` other than ``secretKeyRef``, ``configMapKeyRef`` and a ``fieldRef`` in :data:`FIELD_PATHS`
  (or a label or annotation); ``envFrom`` other than ConfigMap and Secret; downward API items other than
  ``fieldRef``;
* a container without ``command``: its image's ``ENTRYPOINT`` is unknown (Tekton looks it up itself and always sets
  one);
* container ``lifecycle`` hooks (``postStart``, ``preStop``): nothing would run them.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["FIELD_PATHS", "Unsupported", "check", "check_field_path"]

Obj = dict[str, Any]

FIELD_PATHS = frozenset(
    {
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.hostIP",
    }
)
"""``fieldRef`` paths the executor resolves, besides ``metadata.labels['k']`` and ``metadata.annotations['k']``."""

_LABEL_OR_ANNOTATION = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_VOLUME_TYPES = frozenset({"emptyDir", "downwardAPI", "secret", "configMap", "projected", "persistentVolumeClaim"})
_PROJECTED_SOURCES = frozenset({"serviceAccountToken", "configMap", "secret", "downwardAPI"})
_TEKTON_POD_LABEL = ("app.kubernetes.io/managed-by", "tekton-pipelines")


class Unsupported(Exception):
    """A pod feature the executor cannot imitate; the pod fails with this message instead of running or hanging."""


def check_field_path(path: str) -> re.Match[str] | None:
    """Raise :class:`Unsupported` for a ``fieldRef`` path the executor cannot resolve; the label/annotation match."""
    match = _LABEL_OR_ANNOTATION.match(path)
    if path not in FIELD_PATHS and match is None:
        raise Unsupported(f"fieldRef {path!r}")
    return match


def _check_downward_items(where: str, items: list[Obj]) -> None:
    for item in items:
        if "fieldRef" not in item:
            raise Unsupported(f"{where}: downward API item {item.get('path')!r} without fieldRef")
        check_field_path(item["fieldRef"]["fieldPath"])


def _check_volume(volume: Obj) -> None:
    where = f"volume {volume['name']!r}"
    kinds = sorted(set(volume) - {"name"})
    if len(kinds) != 1 or kinds[0] not in _VOLUME_TYPES:
        raise Unsupported(f"{where} of type {', '.join(kinds)}")
    if "downwardAPI" in volume:
        _check_downward_items(where, volume["downwardAPI"].get("items") or [])
    for source in (volume.get("projected") or {}).get("sources") or []:
        unknown = sorted(set(source) - _PROJECTED_SOURCES)
        if unknown:
            raise Unsupported(f"{where}: projected source {', '.join(unknown)}")
        if "downwardAPI" in source:
            _check_downward_items(where, source["downwardAPI"].get("items") or [])


def _check_container(container: Obj) -> None:
    where = f"container {container['name']!r}"
    if not container.get("command"):
        raise Unsupported(f"{where} without command (its image's ENTRYPOINT)")
    if container.get("lifecycle"):
        raise Unsupported(f"{where}: lifecycle hooks {', '.join(sorted(container['lifecycle']))}")
    for source in container.get("envFrom") or []:
        if not ({"configMapRef", "secretRef"} & set(source)):
            raise Unsupported(f"{where}: envFrom source {sorted(source)}")
    for entry in container.get("env") or []:
        value_from = entry.get("valueFrom")
        if value_from is None:
            continue
        kinds = sorted(value_from)
        if kinds == ["fieldRef"]:
            check_field_path(value_from["fieldRef"]["fieldPath"])
        elif kinds not in (["secretKeyRef"], ["configMapKeyRef"]):
            raise Unsupported(f"{where}: env {entry['name']} from {', '.join(kinds)}")


def check(pod: Obj) -> None:
    """Raise :class:`Unsupported` naming the first feature of ``pod`` the executor cannot imitate."""
    spec = pod["spec"]
    labels = pod["metadata"].get("labels") or {}
    tekton = labels.get(_TEKTON_POD_LABEL[0]) == _TEKTON_POD_LABEL[1]
    for container in spec.get("initContainers") or []:
        if container.get("restartPolicy") == "Always":
            raise Unsupported(f"native sidecar {container['name']!r} (an init container with restartPolicy Always)")
        _check_container(container)
    for container in spec["containers"]:
        if tekton and not container["name"].startswith("step-"):
            raise Unsupported(
                f"Tekton sidecar {container['name']!r}: Tekton stops a sidecar by swapping its image for the nop "
                "image, a container restart the executor cannot perform"
            )
        _check_container(container)
    for volume in spec.get("volumes") or []:
        _check_volume(volume)

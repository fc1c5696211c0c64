"""Images the executor can run: unpacked OCI bundles, matched by reference or by digest.

A step container whose ``image`` is one of these runs inside the image's root filesystem, as a runtime would run it:
the image's environment under the container's own ``env``, the image's user unless the securityContext names one
(``runAsNonRoot`` refused for user 0, as the kubelet refuses it), the root filesystem read-only when
``readOnlyRootFilesystem`` says so. Any other image (Tekton's own, a hook's) still runs on the host
(:mod:`.container` says what that does not imitate).

A bundle is what ``umoci unpack`` writes: ``rootfs/`` and ``config.json`` (the OCI runtime spec it derived from the
image config: ``process.env``, ``process.user``, ``process.cwd``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cluster.executor.environment import ConfigError

__all__ = ["Bundle", "find_bundle", "load_bundle", "run_as"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class Bundle:
    """One unpacked image and the references that name it (a ``name:tag``, a ``sha256:...`` digest)."""

    references: tuple[str, ...]
    rootfs: Path
    env: tuple[tuple[str, str], ...]
    uid: int
    gid: int
    cwd: str

    def matches(self, image: str) -> bool:
        """``image`` is a reference of this bundle, or any name pinned to its digest (``repo@sha256:...``)."""
        return any(image == ref or (ref.startswith("sha256:") and image.endswith(f"@{ref}")) for ref in self.references)


def load_bundle(references: tuple[str, ...], bundle: Path) -> Bundle:
    """Read ``bundle/config.json`` (umoci's runtime spec) for the image's user, environment and directory."""
    process = json.loads((bundle / "config.json").read_text())["process"]
    env = tuple((key, value) for key, _, value in (str(item).partition("=") for item in process.get("env") or []))
    user = process.get("user") or {}
    return Bundle(
        references=references,
        rootfs=bundle / "rootfs",
        env=env,
        uid=int(user.get("uid", 0)),
        gid=int(user.get("gid", 0)),
        cwd=process.get("cwd") or "/",
    )


def find_bundle(bundles: tuple[Bundle, ...], image: str) -> Bundle | None:
    """The bundle that ``image`` names, if the executor has it."""
    return next((bundle for bundle in bundles if bundle.matches(image)), None)


def run_as(bundle: Bundle, pod: Obj, container: Obj) -> tuple[int, int]:
    """``(uid, gid)`` the container runs as: its securityContext, else the pod's, else the image's user."""
    pod_context = pod["spec"].get("securityContext") or {}
    context = container.get("securityContext") or {}
    uid = context.get("runAsUser", pod_context.get("runAsUser", bundle.uid))
    gid = context.get("runAsGroup", pod_context.get("runAsGroup", bundle.gid))
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) and uid == 0:
        # the kubelet's words (pkg/kubelet/kuberuntime/security_context_others.go)
        raise ConfigError("container has runAsNonRoot and image will run as root")
    return int(uid), int(gid)

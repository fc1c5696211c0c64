"""The Secret volumes a Task mounts into the step, made on this machine for ``progressive run``.

In the cluster, the catalog Tasks mount the notification Secret at ``/etc/progressive/notify`` and the
Prometheus Secret at ``/etc/progressive/prometheus`` (both ``optional``), and the compiled flags point
into those folders (``--notify-dir``, ``--prometheus-token-file``, ``--prometheus-ca-file``). Locally
there is no kubelet: the Secret is read with the user's own credentials and its keys are written as
files into a private temporary folder (mode 0700, files 0600, deleted when the run ends), and the flags
that point into the mount are pointed at that folder instead. Everything else stays as compiled.

As with an ``optional`` volume, a Secret that does not exist gives an empty folder. A Secret the user
may not read: for notifications, a warning and no notifications (a notification never fails a step);
for Prometheus, an error before anything starts (the analysis could not authenticate anyway).
Values are never printed.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from progressive.compile import (
    NOTIFY_DIR,
    NOTIFY_SECRET_PARAM,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRET_PARAM,
    StageInvocation,
)
from progressive.errors import StepError, UsageError
from progressive.kube.resources import Resource

if TYPE_CHECKING:
    from progressive.kube.objects import Objects

__all__ = ["SECRETS", "mount_secrets"]

SECRETS = Resource("v1", "Secret", "secrets")

_MOUNTS = (
    (NOTIFY_SECRET_PARAM, NOTIFY_DIR, "notify", False),
    (PROMETHEUS_SECRET_PARAM, PROMETHEUS_DIR, "prometheus", True),
)
"""(Task param naming the Secret, mount path in the step, local folder name, must be readable)."""


def _write_secret(objects: Objects, namespace: str, name: str, folder: Path, *, required: bool) -> str:
    """Write the Secret's keys into ``folder``; return a warning ('' if none)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        secret = objects.find(SECRETS.ref(namespace, name))
    except StepError as exc:
        if required:
            raise UsageError(
                f"Secret {namespace}/{name}: cannot read it ({exc}); progressive run reads it with your own "
                "credentials to do what Tekton's volume mount does (you need get on secrets)"
            ) from None
        return f"Secret {namespace}/{name} not readable ({exc}): no notifications from this run"
    if secret is None:
        return ""
    for key, encoded in (secret.get("data") or {}).items():
        if "/" in key or key.startswith("."):
            continue  # not a file name a volume would create
        try:
            value = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"Secret {namespace}/{name} key {key}: not valid base64") from None
        path = folder / key
        path.touch(mode=0o600)
        path.write_bytes(value)
    return ""


def mount_secrets(
    objects: Objects,
    namespace: str,
    invocations: Sequence[StageInvocation],
    root: Path,
    warn: Callable[[str], None],
) -> list[StageInvocation]:
    """Make each Secret the invocations mount under ``root``; return the invocations pointed at it."""
    replacements: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    for invocation in invocations:
        for param, _mount, local, required in _MOUNTS:
            secret = invocation.task_params.get(param)
            if not secret or (param, secret) in done:
                continue
            done.add((param, secret))
            folder = root / local / secret
            warning = _write_secret(objects, namespace, secret, folder, required=required)
            if warning:
                warn(warning)
            replacements[f"{param}={secret}"] = str(folder)
    rewritten: list[StageInvocation] = []
    for invocation in invocations:
        flags = dict(invocation.flags)
        for param, mount, _local, _required in _MOUNTS:
            secret = invocation.task_params.get(param)
            target = replacements.get(f"{param}={secret}")
            if target is None:
                continue
            for name, value in flags.items():
                if value == mount or value.startswith(f"{mount}/"):
                    flags[name] = target + value[len(mount) :]
        rewritten.append(dataclasses.replace(invocation, flags=MappingProxyType(flags)))
    return rewritten

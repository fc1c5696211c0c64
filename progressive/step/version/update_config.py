"""``progressive step version update-config``: a running version's new configuration; only its pods roll.

1. create the new immutable ConfigMap ``<app>-<sha7>-<cfghash8>`` (owned by the version's Deployment; one already
   there with the same data is reused);
2. point only that Deployment's pod template at it (volume and ``progressive.dev/config-hash``); no other
   version's Deployment, ReplicaSet or pod is touched;
3. wait until the rollout is available (``--progress-deadline``); if it is not, point the Deployment back at the
   previous configuration (the state record's, whose pod template an old ReplicaSet still has), wait for that,
   and fail saying so (the error's exit code, 6 for a deadline);
4. record the new configuration, then delete this version's ConfigMaps that neither the last ``--keep``
   configurations nor any of its ReplicaSets use (``kubectl rollout undo`` keeps working).

The state record holds the last good configuration until step 4, so a run killed anywhere and run again knows
what to roll back to, finds the ConfigMap and the template already written, and finishes the wait.
"""

from __future__ import annotations

import copy

from progressive.errors import StepError, UnsafeError
from progressive.kube.deployments import template_of, wait_available
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import CONFIGMAPS, Ref, Resource
from progressive.step.invocation import Invocation
from progressive.step.version._context import Context, opened
from progressive.step.version._objects import config_flags, deployment_ref, ensure_configmap, is_version_object
from progressive.step.version.state import VersionRecord
from progressive.versions import objects as build

__all__ = ["configmap_of", "hash_of", "point_at", "run", "template_with"]

REPLICASETS = Resource("apps/v1", "ReplicaSet", "replicasets")
POD_TEMPLATE_HASH = "pod-template-hash"


def hash_of(template: JSON) -> str:
    """The configuration hash a pod template carries (its ``progressive.dev/config-hash`` annotation)."""
    return str(((template.get("metadata") or {}).get("annotations") or {}).get(build.CONFIG_HASH_ANNOTATION) or "")


def configmap_of(template: JSON) -> str:
    """The ConfigMap a pod template mounts as the version's configuration."""
    for volume in (template.get("spec") or {}).get("volumes") or []:
        if volume.get("name") == build.CONFIG_VOLUME:
            return str((volume.get("configMap") or {}).get("name") or "")
    return ""


def _with_config(template: JSON, configmap: str, annotations: dict[str, str]) -> JSON:
    """``template`` (a copy) mounting ``configmap`` with exactly ``annotations`` on the pods."""
    changed = copy.deepcopy(template)
    changed.setdefault("metadata", {})["annotations"] = annotations
    volumes = changed.setdefault("spec", {}).setdefault("volumes", [])
    for volume in volumes:
        if volume.get("name") == build.CONFIG_VOLUME:
            volume["configMap"] = {**(volume.get("configMap") or {}), "name": configmap}
            break
    else:
        volumes.append({"name": build.CONFIG_VOLUME, "configMap": {"name": configmap}})
    return changed


def _replicasets(objects: Objects, namespace: str, app: str, commit: str) -> list[JSON]:
    selector = f"{build.APP_LABEL}={app},{build.VERSION_LABEL}={commit}"
    return objects.list(REPLICASETS, namespace, label_selector=selector)


def template_with(ctx: Context, commit: str, current: JSON, config_hash: str, configmap: str = "") -> JSON | None:
    """The pod template of configuration ``config_hash`` (in ``configmap``, if given).

    The current one, or an old ReplicaSet's: the Deployment keeps ``revisionHistoryLimit`` of them, and
    :func:`_collect` the ConfigMaps they mount.
    """
    if hash_of(current) == config_hash:
        return current
    for replicaset in _replicasets(ctx.objects, ctx.namespace, ctx.app, commit):
        template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
        if hash_of(template) == config_hash and configmap in {"", configmap_of(template)}:
            template.get("metadata", {}).get("labels", {}).pop(POD_TEMPLATE_HASH, None)
            return template
    return None


def point_at(objects: Objects, ref: Ref, template: JSON, expect_hash: str | None = None) -> bool:
    """Set the Deployment's pod template config parts to ``template``'s (only if it is at ``expect_hash``)."""

    def change(deployment: JSON) -> JSON | None:
        spec = deployment.setdefault("spec", {})
        current = spec.get("template") or {}
        if expect_hash is not None and hash_of(current) != expect_hash:
            return None  # someone moved it on: leave it
        annotations = dict((template.get("metadata") or {}).get("annotations") or {})
        wanted = _with_config(current, configmap_of(template), annotations)
        if wanted == current:
            return None
        spec["template"] = wanted
        return deployment

    return objects.update(ref, change).changed


def _collect(ctx: Context, version: VersionRecord, keep: int) -> list[str]:
    """Delete the version's ConfigMaps that neither its last ``keep`` configurations nor a ReplicaSet use.

    The last ones are the record's, in the order they were used; ConfigMaps the record does not name (made before
    it remembered earlier configurations) count after those, the newest first. Returns the deleted names.
    """
    selector = f"{build.APP_LABEL}={ctx.app},{build.VERSION_LABEL}={version.commit}"
    configmaps = ctx.objects.list(CONFIGMAPS, ctx.namespace, label_selector=selector)
    used = {
        configmap_of((rs.get("spec") or {}).get("template") or {})
        for rs in _replicasets(ctx.objects, ctx.namespace, ctx.app, version.commit)
    }
    by_name = {c["metadata"]["name"]: c for c in configmaps}
    latest = [name for name in version.configmaps if name in by_name]
    unrecorded = sorted(
        (name for name in by_name if name not in version.configmaps),
        key=lambda name: str(by_name[name]["metadata"].get("creationTimestamp", "")),
        reverse=True,
    )
    kept = {version.configmap, *(latest + unrecorded)[:keep], *used}
    deleted = []
    for name, configmap in by_name.items():
        if name in kept:
            continue
        ctx.objects.delete(CONFIGMAPS.ref(ctx.namespace, name), uid=configmap["metadata"].get("uid", ""))
        deleted.append(name)
    return deleted


def run(invocation: Invocation) -> int:
    """Update the version's configuration; see the module docstring."""
    with opened(invocation) as ctx:
        commit = ctx.commit()
        config, annotations = config_flags(invocation.json("config"), invocation.json("pod-annotations"))
        keep = max(1, invocation.integer("keep") or 1)
        deadline = invocation.seconds("progress-deadline")
        ref = deployment_ref(ctx.namespace, ctx.app, commit)
        deployment = ctx.objects.get(ref)
        if not is_version_object(deployment, ctx.app, commit):
            raise UnsafeError(f"{ref} is not version {commit[:7]} of app {ctx.app!r}; nothing was changed")
        good = ctx.store.read().find(commit)
        if good is None:
            raise UnsafeError(
                f"version {commit[:7]} is not in {ctx.store.ref}; `version add` it first; nothing was changed"
            )
        current = template_of(deployment)
        image = next((c.get("image", "") for c in (current.get("spec") or {}).get("containers") or []), "")
        app = build.AppSpec(name=ctx.app, namespace=ctx.namespace)
        version = build.VersionSpec(commit, image, config, good.replicas, annotations)
        new_hash, new_name = version.config_hash, version.configmap_name(ctx.app)
        previous = template_with(ctx, commit, current, good.config_hash, good.configmap)
        _configmap, created = ensure_configmap(ctx.objects, app, version, deployment)
        wanted = build.pod_template(app, version)
        changed = point_at(ctx.objects, ref, wanted)
        try:
            wait_available(ctx.objects, ref, deadline)
        except StepError as exc:
            if new_hash == good.config_hash or previous is None:
                raise
            ctx.say(rolling_back=good.configmap, reason=str(exc))
            try:
                point_at(ctx.objects, ref, previous, expect_hash=new_hash)
                wait_available(ctx.objects, ref, deadline)
            except StepError as undo:
                message = f"{exc}; rolling the configuration back to {good.configmap} failed too ({undo}): check {ref}"
                ctx.event(ref, "VersionConfigRollbackFailed", message, warning=True)
                raise type(exc)(message) from None
            message = f"{exc}; the configuration was rolled back to {good.configmap} ({good.config_hash})"
            ctx.event(ref, "VersionConfigRolledBack", message, warning=True)
            raise type(exc)(message) from None

        record = ctx.store.update(lambda state: state.with_config(commit, new_hash, new_name)).find(commit)
        collected = _collect(ctx, record, keep) if record is not None else []
        if changed or created:
            reason = "VersionConfigUpdated"
            message = f"version {commit[:7]} of {ctx.app}: configuration {good.config_hash} -> {new_hash}, rolled out"
        else:
            reason = "VersionConfigVerified"
            message = f"version {commit[:7]} of {ctx.app}: already at configuration {new_hash}, nothing written"
        ctx.event(ref, reason, message)
        invocation.write_result("config-hash", new_hash)
        invocation.write_result("previous-config-hash", good.config_hash)
        invocation.write_result("workload", ref.name)
        ctx.say(
            deployment=ref.qualified,
            configmap=new_name,
            config_hash=new_hash,
            previous=good.config_hash,
            changed=changed or created,
            collected=collected,
            message=message,
        )
    return 0

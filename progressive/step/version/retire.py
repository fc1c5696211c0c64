"""``progressive step version retire``: take a version out of every rule, drain it, delete it.

1. refuse (exit 8, nothing changed) while the version has weight, in the state record or at any rule: move its
   traffic to the others with ``set-weights`` first;
2. remove its backend entries from every rule (one write), read back, wait until the data plane accepted it;
   the Service must not be deleted while a rule references it (Gateway API answers 500 for its share);
3. drain: wait ``--drain`` (at least the pods' termination grace period) so connections in flight finish;
4. delete its Deployment with ``propagationPolicy: Foreground``: its ReplicaSets, pods, ConfigMaps and Service
   (owned by it) go first, then the Deployment; wait until it is gone;
5. remove it from the state record.

Killed anywhere and run again: the rules are already clean (nothing written), the drain is waited again while the
Deployment still exists, deletion and the record are completed.
"""

from __future__ import annotations

import time

from progressive.errors import StepError, UnsafeError
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import CONFIGMAPS
from progressive.kube.retry import Deadline, fail, retrying
from progressive.kube.status import ApiError
from progressive.kube.waiting import Check, poll
from progressive.step.invocation import Invocation
from progressive.step.version._context import Context, opened
from progressive.step.version._objects import SERVICES, deployment_ref, is_version_object
from progressive.step.version._routing import REPLICAS, Written, read_places, target_of, write_weights
from progressive.versions.naming import version_name
from progressive.versions.objects import APP_LABEL, VERSION_LABEL

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Retire the version; see the module docstring."""
    with opened(invocation) as ctx:
        commit = ctx.commit()
        record = ctx.store.read()
        recorded = record.find(commit)
        service = version_name(ctx.app, commit)
        target = target_of(invocation)
        known = {version_name(ctx.app, v.commit) for v in record.versions} | {service}
        if recorded is not None and recorded.weight > 0:
            raise UnsafeError(
                f"version {commit[:7]} of {ctx.app} has weight {recorded.weight} in {ctx.store.ref}; move its "
                "traffic to the other versions with `version set-weights` first; nothing was changed"
            )
        live = [place for place in read_places(ctx.objects, target, known) if place.weights.get(service, 0) > 0]
        if live:
            where = ", ".join(f"{place.where} ({place.weights[service]})" for place in live)
            raise UnsafeError(
                f"{target.ref} still sends traffic to {service} at {where}; move it to the other versions with "
                "`version set-weights` first; nothing was changed"
            )
        others = {version_name(ctx.app, v.commit) for v in record.versions if v.commit != commit}
        if target.kind == REPLICAS:  # no rule to take it out of: weight 0 scaled it to 0 pods
            written = Written(False, [])
        else:
            written = write_weights(ctx.objects, target, {}, known=others | {service}, remove={service})
        ref = deployment_ref(ctx.namespace, ctx.app, commit)
        deployment = ctx.objects.find(ref)
        if deployment is not None and not is_version_object(deployment, ctx.app, commit):
            raise UnsafeError(f"{ref} is not version {commit[:7]} of app {ctx.app!r}; it was not deleted")
        deleted = False
        if deployment is not None:
            if not (deployment.get("metadata") or {}).get("deletionTimestamp"):
                drain = invocation.seconds("drain")
                ctx.say(draining=service, seconds=drain, message=f"{target.ref} no longer routes to {service}")
                time.sleep(drain)
                _delete_foreground(ctx.objects, ref.path, ref.name)
                deleted = True
            _wait_gone(ctx, commit, invocation.seconds("delete-timeout"))
        ctx.store.update(lambda state: state.without(commit))
        message = f"version {commit[:7]} of {ctx.app}: removed from {target.ref}, drained and deleted"
        ctx.event(target.ref, "VersionRetired", message)
        ctx.say(
            version=commit[:7],
            routes_changed=written.changed,
            deleted=deleted,
            places=[place.to_json() for place in written.places],
            message=message,
        )
    return 0


def _delete_foreground(objects: Objects, path: str, name: str) -> None:
    """DELETE with ``propagationPolicy: Foreground``; a 404 is fine (gone already)."""
    body: JSON = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
    what = f"delete Deployment {name}"
    deadline = Deadline.start(objects.api_timeout)
    try:
        for attempt in retrying(what, objects.api_timeout, conflicts=False):
            with attempt:
                try:
                    objects.request("DELETE", path, body=body, timeout=deadline.request_timeout())
                except ApiError as exc:
                    if exc.status == 404:
                        return
                    raise
                return
    except StepError:
        raise
    except Exception as exc:
        raise fail(what, exc) from exc


def _wait_gone(ctx: Context, commit: str, timeout: float) -> None:
    """Wait until the Deployment and every Service and ConfigMap of the version are gone."""
    selector = f"{APP_LABEL}={ctx.app},{VERSION_LABEL}={commit}"
    ref = deployment_ref(ctx.namespace, ctx.app, commit)

    def check() -> Check[bool]:
        left = []
        if ctx.objects.find(ref) is not None:
            left.append(str(ref))
        left += [
            f"Service {s['metadata']['name']}"
            for s in ctx.objects.list(SERVICES, ctx.namespace, label_selector=selector)
        ]
        left += [
            f"ConfigMap {c['metadata']['name']}"
            for c in ctx.objects.list(CONFIGMAPS, ctx.namespace, label_selector=selector)
        ]
        return Check.ready(True) if not left else Check.pending("still there: " + ", ".join(left))

    poll(f"version {commit[:7]} of {ctx.app} is not gone", timeout, check, flag="--delete-timeout")

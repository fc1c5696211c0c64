"""``progressive step version restore-config``: a version back on an earlier configuration after a bad verdict.

``update-config`` rolls a configuration back by itself when the pods do not become available; a configuration
whose pods run but whose metrics turn bad is judged afterwards, by an analysis of that version against the
others, and this verb undoes it:

1. find the pod template of ``--config-hash``: the Deployment's own (nothing to do but check), or an old
   ReplicaSet's (the Deployment keeps ``revisionHistoryLimit`` of them, and ``update-config`` keeps the
   ConfigMaps they mount);
2. point only this version's Deployment back at it (volume and pod annotations; nothing else in the template
   changes), wait until the rollout is available (``--progress-deadline``);
3. record it as the version's configuration, and say so in a Warning Event on the Deployment.

No ReplicaSet holds that configuration: exit 8 with nothing changed, naming what is there. A run killed anywhere
and run again finds the template already written and finishes the wait and the record.
"""

from __future__ import annotations

from progressive.errors import UnsafeError, UsageError
from progressive.kube.deployments import template_of, wait_available
from progressive.step.invocation import Invocation
from progressive.step.version._context import opened
from progressive.step.version._objects import deployment_ref, is_version_object
from progressive.step.version.update_config import configmap_of, hash_of, point_at, template_with
from progressive.versions.naming import HASH_LENGTH

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Restore the configuration; see the module docstring."""
    with opened(invocation) as ctx:
        commit = ctx.commit()
        wanted = invocation.text("config-hash").strip()
        if len(wanted) != HASH_LENGTH or any(c not in "0123456789abcdef" for c in wanted):
            raise UsageError(f"--config-hash: {wanted!r} is not a configuration hash ({HASH_LENGTH} hex digits)")
        ref = deployment_ref(ctx.namespace, ctx.app, commit)
        deployment = ctx.objects.get(ref)
        if not is_version_object(deployment, ctx.app, commit):
            raise UnsafeError(f"{ref} is not version {commit[:7]} of app {ctx.app!r}; nothing was changed")
        current = template_of(deployment)
        found = hash_of(current)
        template = template_with(ctx, commit, current, wanted)
        if template is None:
            raise UnsafeError(
                f"version {commit[:7]} of {ctx.app}: no ReplicaSet holds configuration {wanted} (it runs {found}); "
                "nothing was changed"
            )
        changed = point_at(ctx.objects, ref, template, expect_hash=found)
        if changed:
            ctx.say(restoring=wanted, replacing=found)
        available = wait_available(ctx.objects, ref, invocation.seconds("progress-deadline"))
        now = hash_of(template_of(available))
        if now != wanted:  # someone else changed the template between our read and our write
            raise UnsafeError(
                f"{ref} moved to configuration {now} while restoring {wanted}; left as it is, check who changed it"
            )
        configmap = configmap_of(template)

        ctx.store.update(lambda state: state.with_config(commit, wanted, configmap))
        if changed:
            message = (
                f"version {commit[:7]} of {ctx.app}: configuration {found} replaced by the earlier {wanted} "
                f"({configmap}), rolled out"
            )
            ctx.event(ref, "VersionConfigRestored", message, warning=True)
        else:
            message = f"version {commit[:7]} of {ctx.app}: already at configuration {wanted}, nothing written"
            ctx.event(ref, "VersionConfigVerified", message)
        invocation.write_result("config-hash", wanted)
        ctx.say(deployment=ref.qualified, configmap=configmap, config_hash=wanted, changed=changed, message=message)
    return 0

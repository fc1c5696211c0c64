"""``progressive step promote``: the canary becomes the new stable, and all traffic goes back to stable.

In order, each step safe to run again:

1. read the routing object (missing: exit 3, nothing written);
2. save the stable Deployment's pod template in the state record (``stable_template``, phase
   ``promoting``), unless an interrupted promotion of this run already saved it: the saved template is
   always the stable's *original* one, which ``rollback`` restores;
3. copy the canary's pod template to the stable Deployment: ``spec.template.spec`` and the template's
   annotations; the stable's template labels stay, because its selector (and the Services selecting
   stable pods) depend on them;
4. wait until the stable is available within ``--progress-deadline``; if it is not, exit 8 (unsafe):
   traffic has not moved, and ``rollback`` restores the saved template;
5. canary weight 0 (stable 100), verified, accepted by the data plane;
6. scale the canary to 0 (``--scale-down-canary``);
7. clean up what the router added (NGINX's canary Ingress);
8. record phase ``promoted`` and drop the saved template.
"""

from __future__ import annotations

import copy

from progressive.errors import DeadlineExceeded, StepError, UnsafeError
from progressive.kube.deployments import scale_to, template_of, wait_available
from progressive.kube.objects import JSON
from progressive.kube.resources import DEPLOYMENTS
from progressive.state import State
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation
from progressive.step.session import open_session
from progressive.step.traffic import open_for, shift, target_from
from progressive.step.waiting import stop_if_aborted

__all__ = ["promoted_template", "run"]


def promoted_template(stable: JSON, canary_template: JSON) -> JSON:
    """``stable`` (in place) running the canary's pod spec and annotations, keeping its own labels."""
    template = stable.setdefault("spec", {}).setdefault("template", {})
    metadata = template.setdefault("metadata", {})
    annotations = (canary_template.get("metadata") or {}).get("annotations")
    if annotations:
        metadata["annotations"] = copy.deepcopy(annotations)
    else:
        metadata.pop("annotations", None)
    template["spec"] = copy.deepcopy(canary_template.get("spec") or {})
    return stable


def run(invocation: Invocation) -> int:
    """Promote the canary; see the module docstring."""
    target = target_from(invocation)
    session = open_session(invocation)
    objects = session.objects
    stable_ref = DEPLOYMENTS.ref(session.namespace, invocation.text("stable-deployment"))
    canary_ref = DEPLOYMENTS.ref(session.namespace, invocation.text("canary-deployment"))
    try:
        stop_if_aborted(invocation, session.kube, session.store.current().for_run(session.run_id), "promote")
        router = open_for(session, target)
        router.read()
        canary_template = template_of(objects.get(canary_ref))
        stable = objects.get(stable_ref)

        def save(state: State) -> State:
            current = state.for_run(session.run_id)
            keep = current.phase == "promoting" and current.stable_template is not None
            saved = current.stable_template if keep else template_of(stable)
            return current.evolve(phase="promoting", stage=session.stage or current.stage, stable_template=saved)

        session.store.update(save)
        copied = objects.update(stable_ref, lambda dep: promoted_template(dep, canary_template)).changed
        try:
            wait_available(objects, stable_ref, invocation.seconds("progress-deadline"))
        except DeadlineExceeded as exc:
            raise UnsafeError(
                f"{stable_ref} does not become available with the canary's template, so traffic was not moved "
                f"to it ({exc}); rollback restores its saved template"
            ) from None
        shifted = shift(session, invocation, router, 0, phase="promoting", undo=False)
        scaled = scale_to(objects, canary_ref, 0) if invocation.enabled("scale-down-canary") else False
        removed = router.cleanup()

        def finish(state: State) -> State:
            current = state.for_run(session.run_id)
            promoted = current.evolve(phase="promoted", stable_template=None, canary_weight=0, pending_weight=None)
            return promoted.mark("outcome", current.stage, phase="promoted")

        session.store.update(finish)
    except StepError as exc:
        record_failure(invocation, session.kube, "PromotionFailed", f"promote: {exc}")
        raise
    announce(
        invocation,
        session.kube,
        "Promoted",
        f"{stable_ref} now runs the canary's template and takes all traffic through {router.ref}",
        router=target.router,
        object=router.ref.qualified,
        stable=100,
        canary=0,
        template_copied=copied,
        changed=shifted.changed,
        canary_scaled_down=scaled,
        removed=list(removed),
    )
    return 0

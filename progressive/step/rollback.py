"""``progressive step rollback``: all traffic back to stable, the canary scaled down. Runs in ``finally``.

In order:

1. read the routing object (missing: exit 3, nothing written);
2. if a promotion of this run was interrupted (state record phase ``promoting`` with a saved template),
   put the stable Deployment's saved pod template back and wait until it is available;
3. before traffic moves to stable, check that the stable can take it (flagger#869: an autoscaler may
   have shrunk it while the canary had traffic):

   - ``instant``: all traffic at once needs the capacity the stable had when the run started: N available
     replicas, N being ``stable_replicas`` from the state record (its current ``spec.replicas`` when
     unknown). Fewer: exit 8, traffic stays where it is, and the message says how many are available,
     how many are needed, and to scale it or use ``stepped``;
   - ``stepped``: before each step the stable must be settled (every replica it asks for available, at
     least one), waiting up to ``--progress-deadline``; each step then adds at most ``--step-weight``
     percent of load, and ``--step-interval`` gives its autoscaler time to react before the next check.
     This is how a shrunk stable is brought back without overloading it. Not settled in time: exit 8;
4. move the weight: ``instant`` sets canary 0 at once; ``stepped`` lowers it by ``--step-weight`` every
   ``--step-interval``. Each change is verified and accepted, as in ``set-weight``;
5. scale the canary Deployment to 0 (a missing canary Deployment is skipped), clean up what the router
   added, record phase ``rolled-back``.

Safe when nothing was shifted yet: with the canary already at weight 0 the routing object is not
written, no capacity check is needed, and without a state record none is created. The replica router
is exempt from the capacity check: rolling back *is* scaling the stable up, and it waits until the
stable is available before scaling the canary down.
"""

from __future__ import annotations

import math
import time

from progressive.errors import DeadlineExceeded, StepError, UnsafeError
from progressive.kube.deployments import (
    available_replicas,
    progress,
    scale_to,
    spec_replicas,
    wait_available,
    with_template,
)
from progressive.kube.objects import Objects
from progressive.kube.resources import DEPLOYMENTS, Ref
from progressive.kube.waiting import Check, poll
from progressive.routers.base import Reading
from progressive.state import State
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation, emit
from progressive.step.session import Session, open_session
from progressive.step.traffic import open_for, shift, target_from

__all__ = ["run", "stepped_weights"]


def stepped_weights(current: int, step: int) -> list[int]:
    """Canary weights from ``current`` down to 0 by ``step`` (``step`` 0 or >= current: straight to 0)."""
    if step <= 0 or step >= current:
        return [0]
    weights = list(range(current - step, 0, -step))
    return [*weights, 0]


def _current(reading: Reading) -> int:
    """The canary weight to step down from: the highest share at any place, rounded up."""
    shares = [place.percent for place in reading.places if place.percent is not None]
    return math.ceil(max(shares)) if shares else 0


def _full_capacity(objects: Objects, ref: Ref, capacity: int | None) -> None:
    """``instant``: the stable must have the replicas it ran with at the start; :class:`UnsafeError` if not."""
    stable = objects.get(ref)
    need = max(1, capacity if capacity is not None else spec_replicas(stable))
    have = available_replicas(stable)
    if have < need:
        basis = "when the run started" if capacity is not None else "in spec.replicas (no state record)"
        raise UnsafeError(
            f"refusing to move all traffic back: {ref} has {have} available replicas, {need} needed (its replicas "
            f"{basis}); scale it up, or use --mode=stepped so its autoscaler can follow the traffic"
        )


def _settled(objects: Objects, ref: Ref) -> Check[int]:
    stable = objects.get(ref)
    state, have = progress(stable), available_replicas(stable)
    if state.done and have >= 1:
        return Check.ready(have)
    return Check.pending(state.waiting or f"{ref} has no available replica")


def _wait_settled(session: Session, invocation: Invocation, ref: Ref) -> None:
    """``stepped``: wait until the stable has every replica it asks for; :class:`UnsafeError` otherwise."""
    try:
        poll(
            f"refusing to move more traffic back to {ref}",
            invocation.seconds("progress-deadline"),
            lambda: _settled(session.objects, ref),
            flag="--progress-deadline",
        )
    except DeadlineExceeded as exc:
        raise UnsafeError(str(exc)) from None


def _check_capacity(session: Session, invocation: Invocation, ref: Ref, capacity: int | None) -> None:
    """Before traffic moves back: full capacity at once (``instant``), or settled before each step."""
    if invocation.text("mode") == "instant":
        _full_capacity(session.objects, ref, capacity)
    else:
        _wait_settled(session, invocation, ref)


def _restore_promotion(session: Session, invocation: Invocation, ref: Ref, state: State) -> bool:
    """Put back the stable's template saved by an interrupted promotion; ``True`` if it did."""
    saved = state.stable_template
    if state.phase != "promoting" or saved is None:
        return False
    session.objects.update(ref, lambda deployment: with_template(deployment, saved))
    try:
        wait_available(session.objects, ref, invocation.seconds("progress-deadline"))
    except DeadlineExceeded as exc:
        raise UnsafeError(f"refusing to move traffic back: the restored stable is not available ({exc})") from None
    session.store.update(lambda s: s.for_run(session.run_id).evolve(phase="rolling-back", stable_template=None))
    emit({"action": "rollback", "restored": ref.qualified, "message": "interrupted promotion undone"})
    return True


def run(invocation: Invocation) -> int:
    """Roll back; see the module docstring."""
    target = target_from(invocation)
    session = open_session(invocation)
    objects = session.objects
    stable_ref = DEPLOYMENTS.ref(session.namespace, invocation.text("stable-deployment"))
    canary_ref = DEPLOYMENTS.ref(session.namespace, invocation.text("canary-deployment"))
    try:
        router = open_for(session, target, remember=False)
        before = router.read()
        raw_state = session.store.current()  # the run lock read it for this command
        state = raw_state.for_run(session.run_id)
        if state.stage and state.stage != session.stage and not state.rolled_back_from:
            # remember where the run stopped before this step's own stage name replaces it in the record
            stopped_at = state.stage
            state = session.store.update(lambda s: s.for_run(session.run_id).evolve(rolled_back_from=stopped_at))
        restored = _restore_promotion(session, invocation, stable_ref, state)
        changed = False
        if not before.at(0):
            mode = invocation.text("mode")
            step = invocation.integer("step-weight") or 0
            weights = [0] if mode == "instant" else stepped_weights(_current(before), step)
            for index, weight in enumerate(weights):
                if target.router != "replicas":  # the replica router scales the stable up and waits itself
                    _check_capacity(session, invocation, stable_ref, state.stable_replicas)
                shifted = shift(session, invocation, router, weight, phase="rolling-back", undo=False)
                changed = changed or shifted.changed
                if index < len(weights) - 1:
                    emit({"action": "rollback", "canary": weight, "stable": 100 - weight, "changed": shifted.changed})
                    time.sleep(invocation.seconds("step-interval"))
        scaled = objects.find(canary_ref) is not None and scale_to(objects, canary_ref, 0)
        removed = router.cleanup()
        if raw_state != State() or changed or scaled or removed or restored:

            def finish(current: State) -> State:
                ended = current.for_run(session.run_id)
                rolled_back = ended.evolve(phase="rolled-back", canary_weight=0, pending_weight=None)
                return rolled_back.mark("outcome", ended.rolled_back_from or ended.stage, phase="rolled-back")

            session.store.update(finish)
    except StepError as exc:
        record_failure(invocation, session.kube, "RollbackFailed", f"rollback: {exc}")
        raise
    announce(
        invocation,
        session.kube,
        "RolledBack",
        f"all traffic back on stable through {router.ref}; canary {canary_ref} scaled to 0",
        warning=True,
        router=target.router,
        object=router.ref.qualified,
        stable=100,
        canary=0,
        changed=changed,
        canary_scaled_down=scaled,
        promotion_undone=restored,
        removed=list(removed),
    )
    return 0

"""Moving traffic safely: the one protocol every step command that changes weights follows.

:func:`shift` is used by ``set-weight``, ``promote`` and ``rollback``:

1. read the routing object (a missing object or backend fails here, exit 3, with nothing written);
2. already at ``W``: write nothing, still wait until the data plane accepted it, record ``W``;
3. else record ``pending_weight = W`` in the state record *before* touching the routing object;
4. one write per object (:meth:`Router.write`), then read it back and check every place is at ``W``;
5. wait until the data plane accepted it (Gateway API ``Accepted``, Contour ``Valid``, replicas available);
6. record ``canary_weight = W`` and clear ``pending_weight``.

If anything fails after the write may have been applied and ``undo`` is asked for (``set-weight``), the
router puts back what it replaced (only where the object still holds what it wrote) and the step fails
with the original error, saying the weights were restored. So a ``set-weight`` either ends at ``W``,
verified, or fails with the object as it was: never anything in between.

A step killed between 4 and 6 and run again finds the object already at ``W`` (step 2): it writes
nothing, verifies, clears ``pending_weight`` and reports ``"changed": false, "resumed": true``.
``changed`` always means "this run wrote the routing object".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from progressive.errors import InfrastructureError, StepError, UsageError
from progressive.kube.resources import DEPLOYMENTS
from progressive.routers import open_router, target_from
from progressive.routers.base import MaybeWritten, Reading, Router, Target, Written
from progressive.state import Phase, State
from progressive.step.invocation import Invocation, emit

if TYPE_CHECKING:
    from progressive.step.session import Session

__all__ = ["Shifted", "open_for", "shift", "target_from"]


def _capacity(session: Session, target: Target, *, remember: bool) -> int:
    """Total replicas of the replica router: the stable's at the start of the run, saved in the state record.

    When the record has none yet, the stable's replicas now are the capacity, saved when ``remember``.
    """
    saved = session.store.current().for_run(session.run_id).stable_replicas
    if saved is not None:
        return saved
    from progressive.kube.deployments import spec_replicas  # noqa: PLC0415 - the replica router only

    stable = session.objects.get(DEPLOYMENTS.ref(target.namespace, target.stable))
    session.objects.get(DEPLOYMENTS.ref(target.namespace, target.canary))
    replicas = spec_replicas(stable)
    if replicas < 1:
        raise UsageError(
            f"--stable: Deployment {target.namespace}/{target.stable} has {replicas} replicas and no saved "
            "capacity in the state record; the replica router needs the stable's replicas at the start of the run"
        )
    if not remember:
        return replicas

    def keep(state: State) -> State:
        current = state.for_run(session.run_id)
        return current if current.stable_replicas is not None else current.evolve(stable_replicas=replicas)

    stored = session.store.update(keep).stable_replicas
    return replicas if stored is None else stored


def open_for(session: Session, target: Target, *, remember: bool = True) -> Router:
    """The router for ``target``; the replica router gets its capacity from the state record.

    ``remember=False`` (rollback) does not create a state record just to save that capacity.
    """
    capacity = _capacity(session, target, remember=remember) if target.router == "replicas" else None
    return open_router(session.objects, target, capacity=capacity)


@dataclass(frozen=True, slots=True)
class Shifted:
    """The outcome of :func:`shift`."""

    before: Reading
    after: Reading
    changed: bool
    """This run wrote the routing object."""
    resumed: bool
    """The state record showed this very weight pending: an earlier run was interrupted mid-change."""
    effective: int
    """Canary weight in effect (differs from the one asked for only for the replica router)."""


def _record(session: Session, *, phase: Phase, canary: int | None, pending: int | None) -> None:
    stage = session.stage

    def change(state: State) -> State:
        current = state.for_run(session.run_id)
        changed = current.evolve(
            phase=phase,
            stage=stage or current.stage,
            canary_weight=current.canary_weight if canary is None else canary,
            pending_weight=pending,
        )
        # a verified weight that differs from the record's (or ends a pending change) is a new point on the timeline;
        # the same weight verified again is not, so a step run again writes nothing
        moved = (
            canary is not None
            and pending is None
            and (canary != current.canary_weight or current.pending_weight is not None)
        )
        return changed.mark("weight", changed.stage, weight=canary, phase=phase) if moved else changed

    session.store.update(change)


def _record_done(session: Session, invocation: Invocation, *, phase: Phase, weight: int) -> None:
    """After a verified change the step has done its job: a failure to record it is a warning only.

    ``pending_weight`` then stays set, which is consistent: the next step reads the object, finds it at
    the pending weight and clears it.
    """
    try:
        _record(session, phase=phase, canary=weight, pending=None)
    except StepError as exc:
        emit({"action": invocation.command.name, "warning": f"state record not updated: {exc}"})


def _undo(router: Router, written: Written, error: StepError) -> tuple[StepError, bool]:
    """Put back what ``written`` replaced: the error to raise (saying how that went), and whether it worked."""
    try:
        restored = router.revert(written)
    except StepError as exc:
        note = f"; putting the previous weights back failed too ({exc}): check {router.ref}"
        return type(error)(f"{error}{note}"), False
    note = "; the previous weights were put back" if restored else "; the routing object was not changed"
    return type(error)(f"{error}{note}"), True


def shift(
    session: Session,
    invocation: Invocation,
    router: Router,
    weight: int,
    *,
    phase: Phase,
    undo: bool,
) -> Shifted:
    """Move the canary to ``weight`` percent, verified; see the module docstring for the protocol."""
    target = router.target
    before = router.read()
    resumed = session.store.current().for_run(session.run_id).pending_weight == weight
    if before.at(weight):
        router.wait_accepted(target.accepted_timeout)
        effective = before.effective if before.effective is not None else weight
        _record_done(session, invocation, phase=phase, weight=effective)
        return Shifted(before, before, changed=False, resumed=resumed, effective=effective)

    written: Written | None = None
    try:
        # inside the try: a failed record write may still have been stored, and then must not stay pending
        _record(session, phase=phase, canary=None, pending=weight)
        try:
            written = router.write(weight)
        except MaybeWritten as exc:
            written = exc.written
            raise exc.cause from None
        after = router.read()
        if not after.at(weight):
            raise InfrastructureError(
                f"{router.ref}: read back after the write shows canary {after.effective}, not {weight} "
                f"({after.to_json()}); something else changed it"
            )
        router.wait_accepted(target.accepted_timeout)
    except StepError as error:
        settled = written is None or not written.changed
        if undo and not settled and written is not None:
            error, settled = _undo(router, written, error)
        if settled:  # the object is as it was: nothing is pending any more
            with contextlib.suppress(StepError):  # the error below is what matters
                _record(session, phase=phase, canary=None, pending=None)
        raise error from None
    _record_done(session, invocation, phase=phase, weight=written.effective)
    return Shifted(before, after, changed=written.changed, resumed=resumed, effective=written.effective)

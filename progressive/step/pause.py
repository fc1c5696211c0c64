"""``progressive step pause``: hold the current weight for ``--duration``, unless told to stop early.

The step records ``phase = paused`` for its stage, then every ``--poll-interval`` until the duration has
passed:

* reads the state record: an abort (``progressive abort``) fails the stage at once, exit 7;
* asks the ``--rollback-webhook``, if any: a 2xx answer fails the stage at once, exit 1 (as Flagger's
  ``rollback`` hooks: "roll back now"); any other answer, or none, means carry on.

At the end it records ``phase = progressing`` and exits 0. Killed and run again, it resumes the same pause
(the duration counts from the first start), so a retried pause does not hold longer than asked.
"""

from __future__ import annotations

import time

from progressive.duration import format_duration
from progressive.errors import CanaryFailed
from progressive.http_post import host_of
from progressive.state import State
from progressive.step.announce import announce
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube, step_store
from progressive.step.waiting import enter_wait, stop_if_aborted
from progressive.webhooks import GateRequest, rollback_requested

__all__ = ["ROLLBACK_POLL_TIMEOUT", "run"]

ROLLBACK_POLL_TIMEOUT = 10.0
"""Seconds one ask of the rollback webhook may take (Flagger's default webhook timeout)."""


def run(invocation: Invocation) -> int:
    """Hold, polling for an abort or a rollback request; see the module docstring."""
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    run_id, stage = invocation.text("run-id"), invocation.text("stage")
    duration, poll = invocation.seconds("duration"), max(invocation.seconds("poll-interval"), 0.05)
    rollback_url = invocation.text("rollback-webhook")
    kube = step_kube()
    store = step_store(kube, namespace, rollout, api_timeout=invocation.seconds("api-timeout"))
    what = f"stage {stage!r} of rollout {namespace}/{rollout}"

    wait = enter_wait(store, run_id=run_id, stage=stage, phase="paused")
    state = wait.state
    weight = state.canary_weight
    if wait.started_here:
        announce(
            invocation,
            kube,
            "Paused",
            f"{what}: holding canary weight {weight if weight is not None else 'unknown'} "
            f"for {format_duration(duration)}",
            stage=stage,
            canary=weight,
            duration=format_duration(duration),
            phase="paused",
        )
    else:
        emit({"action": "pause", "stage": stage, "resumed": True, "waited": round(wait.elapsed, 1)})

    while True:
        stop_if_aborted(invocation, kube, state, what)
        if rollback_url:
            request = GateRequest.from_invocation(invocation, "rollback", canary_weight=state.canary_weight)
            if rollback_requested(rollback_url, min(ROLLBACK_POLL_TIMEOUT, max(poll, 1.0)), request):
                message = f"{what}: the rollback webhook ({host_of(rollback_url)}) answered 2xx: roll back now"
                announce(invocation, kube, "RollbackRequested", message, warning=True, stage=stage)
                raise CanaryFailed(message)
        left = duration - wait.elapsed
        if left <= 0:
            break
        time.sleep(min(poll, left))
        state = store.read().for_run(run_id)

    def resume(current: State) -> State:
        current = current.for_run(run_id)
        if current.phase == "paused" and current.stage == stage:
            return current.evolve(phase="progressing", waiting_since="")
        return current

    store.update(resume)
    announce(
        invocation,
        kube,
        "PauseEnded",
        f"{what}: held canary weight {weight if weight is not None else 'unknown'} for {format_duration(duration)}",
        stage=stage,
        canary=weight,
        phase="progressing",
    )
    return 0

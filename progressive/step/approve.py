"""``progressive step approve``: hold the pipeline until a person approves the stage, or aborts the rollout.

The step records ``phase = waiting-approval`` and ``stage`` in the state record and announces it (JSON line,
Event, notification naming the command to run). It then reads the record every ``--poll-interval``:

* the stage is approved (``progressive approve``): exit 0, result ``approved-by``, an "approved by X" Event;
* the run is aborted (``progressive abort``): exit 7 (``Rejected``) with who, when and why;
* ``--timeout`` passes first: exit 6 (``DeadlineExceeded``).

Either failure fails the stage, so ``finally`` rolls traffic back. Killed and run again, the step resumes
the same wait (the timeout counts from the first start) and picks up a decision made in between.
"""

from __future__ import annotations

import time

from progressive.duration import format_duration
from progressive.errors import DeadlineExceeded, UsageError
from progressive.kube.client import Kube, connect
from progressive.kube.state_store import StateStore
from progressive.state import Approval, State
from progressive.step.announce import announce
from progressive.step.invocation import Invocation, emit
from progressive.step.waiting import enter_wait, stop_if_aborted

__all__ = ["run"]


def run(invocation: Invocation) -> int:
    """Wait for a decision on this stage; see the module docstring."""
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    run_id, stage = invocation.text("run-id"), invocation.text("stage")
    timeout, poll = invocation.seconds("timeout"), max(invocation.seconds("poll-interval"), 0.05)
    if not stage:
        # An approval is recorded per stage; without one, people could not say what they approve and an
        # approval of "no stage" would open every gate of the run.
        raise UsageError("--stage: is required for approve: it names the gate people approve")
    kube = connect()
    store = StateStore(kube, namespace, rollout, api_timeout=invocation.seconds("api-timeout"))
    what = f"stage {stage!r} of rollout {namespace}/{rollout}"

    wait = enter_wait(store, run_id=run_id, stage=stage, phase="waiting-approval")
    state = wait.state
    if not wait.started_here:
        emit({"action": "approve", "stage": stage, "resumed": True, "waited": round(wait.elapsed, 1)})
    elif state.approval_for(stage) is None:
        command = f"progressive approve {rollout} -n {namespace} --stage {stage}"
        announce(
            invocation,
            kube,
            "WaitingApproval",
            f"{what} waits for approval (timeout {format_duration(timeout)}): run `{command}`, "
            f"or `progressive abort {rollout} -n {namespace}` to roll back",
            stage=stage,
            timeout=format_duration(timeout),
            phase="waiting-approval",
        )

    decision = _decision(invocation, kube, state, what)
    while decision is None:
        left = timeout - wait.elapsed
        if left <= 0:
            raise DeadlineExceeded(
                f"{what}: nobody approved it within {format_duration(timeout)} "
                f"(waiting since {state.waiting_since or 'the start'}); the Approve step's timeout can be raised"
            )
        time.sleep(min(poll, left))
        state = store.read().for_run(run_id)
        decision = _decision(invocation, kube, state, what)

    def resume(current: State) -> State:
        current = current.for_run(run_id)
        if current.phase == "waiting-approval" and current.stage == stage:
            return current.evolve(phase="progressing", waiting_since="")
        return current

    store.update(resume)
    invocation.write_result("approved-by", decision.by)
    announce(
        invocation,
        kube,
        "Approved",
        f"{what} approved by {decision.by} at {decision.at}",
        stage=stage,
        approved_by=decision.by,
        approved_at=decision.at,
        phase="progressing",
    )
    return 0


def _decision(invocation: Invocation, kube: Kube, state: State, what: str) -> Approval | None:
    """The approval of this stage; raises ``Rejected`` when the run was aborted; ``None`` while undecided."""
    stop_if_aborted(invocation, kube, state, what)
    decision = state.approval_for(invocation.text("stage"))
    return decision if decision is not None and decision.decision == "approved" else None

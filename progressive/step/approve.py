"""``progressive step approve``: hold the pipeline until a person approves the stage, or aborts the rollout.

The step records ``phase = waiting-approval`` and ``stage`` in the state record and announces it (JSON line,
Event, notification naming the command to run). It then reads, every ``--poll-interval``, the record (for an
abort) and the approvals Secret ``progressive-<rollout>-approvals`` (for an approval of this stage in this run):

* the stage is approved (``progressive approve``): exit 0, result ``approved-by`` (the user the API server
  authenticated the approver as), an "approved by X" Event; the approval is copied into the record's
  ``approvals`` for the report;
* the run is aborted (``progressive abort``): exit 7 (``Rejected``) with who, when and why;
* ``--timeout`` passes first: exit 6 (``DeadlineExceeded``).

Either failure fails the stage, so ``finally`` rolls traffic back. Killed and run again, the step resumes
the same wait (the timeout counts from the first start) and picks up a decision made in between.

Approvals are never taken from the state record: the rollout's own ServiceAccount writes the record, and may
only read the Secret. A missing Secret fails the stage at once (exit 3): nobody could approve it.
"""

from __future__ import annotations

import time

from progressive.duration import format_duration
from progressive.errors import DeadlineExceeded, UsageError
from progressive.kube.approvals import ApprovalStore
from progressive.kube.client import Kube
from progressive.state import Approval, State
from progressive.step.announce import announce
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube, step_store
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
    kube = step_kube()
    store = step_store(kube, namespace, rollout, api_timeout=invocation.seconds("api-timeout"))
    approvals = ApprovalStore(store.objects, namespace, rollout)
    what = f"stage {stage!r} of rollout {namespace}/{rollout}"

    wait = enter_wait(store, run_id=run_id, stage=stage, phase="waiting-approval")
    state = wait.state
    if not wait.started_here:
        emit({"action": "approve", "stage": stage, "resumed": True, "waited": round(wait.elapsed, 1)})
    elif _approval(approvals, run_id, stage) is None:
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

    decision = _decision(invocation, kube, state, approvals, what)
    while decision is None:
        left = timeout - wait.elapsed
        if left <= 0:
            raise DeadlineExceeded(
                f"{what}: nobody approved it within {format_duration(timeout)} "
                f"(waiting since {state.waiting_since or 'the start'}); the Approve step's timeout can be raised"
            )
        time.sleep(min(poll, left))
        state = store.read().for_run(run_id)
        decision = _decision(invocation, kube, state, approvals, what)

    def resume(current: State) -> State:
        current = current.for_run(run_id)
        if decision not in current.approvals:
            current = current.evolve(approvals=(*current.approvals, decision))
            current = current.mark("gate", stage, decision=decision.decision, by=decision.who(), at_time=decision.at)
        if current.phase == "waiting-approval" and current.stage == stage:
            return current.evolve(phase="progressing", waiting_since="")
        return current

    store.update(resume)
    invocation.write_result("approved-by", decision.by)
    announce(
        invocation,
        kube,
        "Approved",
        f"{what} approved by {decision.who()} at {decision.at}",
        stage=stage,
        approved_by=decision.by,
        approved_at=decision.at,
        authenticated=decision.authenticated,
        note=decision.note or None,
        phase="progressing",
    )
    return 0


def _approval(approvals: ApprovalStore, run_id: str, stage: str) -> Approval | None:
    """The first approval of ``stage`` in this run, from the approvals Secret; ``None`` while there is none."""
    for approval in approvals.read(run_id):
        if approval.decision == "approved" and approval.stage == stage:
            return approval
    return None


def _decision(invocation: Invocation, kube: Kube, state: State, approvals: ApprovalStore, what: str) -> Approval | None:
    """The approval of this stage; raises ``Rejected`` when the run was aborted; ``None`` while undecided."""
    stop_if_aborted(invocation, kube, state, what)
    return _approval(approvals, invocation.text("run-id"), invocation.text("stage"))

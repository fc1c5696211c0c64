"""People's decisions on a running rollout: approve a stage, abort the run.

``progressive abort`` writes into the state record; ``progressive approve`` checks an approval here and writes
it to the approvals Secret (``progressive.kube.approvals``), where only approvers may write; the waiting steps
(``approve``, ``pause``, the ``confirm-*`` webhook gates; ``analyze`` too) read them back. The functions
here are the pure part: ``State -> State``, raising :class:`DecisionError` when the decision makes no
sense for where the rollout stands. They run inside the record's read-modify-write, so the check and the
write see the same record (a conflict re-runs them on the fresher one).

Semantics, in short:

* an approval names one stage (never "any stage"): approving without ``--stage`` resolves to the stage the
  rollout is waiting at, and is an error when it is not waiting; approving a stage ahead of time is allowed;
* an abort applies to the whole run: every waiting step of this run fails with exit 7 the next time it
  polls, the pipeline's ``finally`` rolls the traffic back;
* both are idempotent: approving an approved stage, or aborting an aborted run, changes nothing;
* both belong to one run: a new run starts a fresh record (``State.for_run``), so a decision never leaks
  into the next release.
"""

from __future__ import annotations

from progressive.errors import UsageError
from progressive.state import Approval, State

__all__ = ["FINISHED_PHASES", "DecisionError", "abort", "approval_stage", "approve", "is_running"]

FINISHED_PHASES = frozenset({"promoted", "rolled-back", "failed"})
"""Phases after which a run takes no more decisions."""


class DecisionError(UsageError):
    """The decision does not apply to where the rollout stands; the message says where that is.

    A :class:`~progressive.errors.StepError` (exit 2), so it passes unchanged through the state store's
    retry loop.
    """


def _where(state: State) -> str:
    run = f"run {state.run_id!r}" if state.run_id else "the current run"
    stage = f", stage {state.stage!r}" if state.stage else ""
    return f"{run} (phase {state.phase or 'not started'!r}{stage})"


def is_running(state: State) -> bool:
    """Whether the record belongs to a run that has not finished."""
    return bool(state.run_id or state.phase) and state.phase not in FINISHED_PHASES


def approval_stage(state: State, stage: str | None) -> str:
    """The stage an approval applies to: ``stage`` when given, else the one the rollout waits at."""
    if stage:
        return stage
    if state.phase == "waiting-approval":
        return state.stage
    raise DecisionError(
        f"nothing is waiting for approval: {_where(state)}; pass --stage to approve a stage before it is reached"
    )


def approve(state: State, *, stage: str | None, by: str, at: str) -> State:
    """Record that ``by`` approved ``stage`` (or the stage being waited at); unchanged if already approved."""
    if state.aborted is not None:
        raise DecisionError(
            f"{_where(state)} was aborted by {state.aborted.by} at {state.aborted.at}; there is nothing to approve"
        )
    if not is_running(state):
        raise DecisionError(f"{_where(state)} is not running; there is nothing to approve")
    target = approval_stage(state, stage)
    if not target:
        raise DecisionError(f"{_where(state)} waits at a stage without a name; pass --stage")
    if any(a.decision == "approved" and a.stage == target for a in state.approvals):
        return state
    return state.evolve(approvals=(*state.approvals, Approval("approved", by, at, target)))


def abort(state: State, *, by: str, at: str, reason: str = "", authenticated: bool = False, note: str = "") -> State:
    """Record that ``by`` aborted the run; unchanged if it was aborted already."""
    if state.aborted is not None:
        return state
    if not is_running(state):
        raise DecisionError(
            f"{_where(state)} is not running; there is nothing to abort (a finished rollout is undone by "
            "releasing the previous version)"
        )
    if state.phase == "rolling-back":
        raise DecisionError(f"{_where(state)} is already rolling back")
    aborted = Approval(
        "aborted",
        by,
        at,
        stage=state.stage,
        reason=reason,
        run_id=state.run_id,
        authenticated=authenticated,
        note=note,
    )
    return state.evolve(aborted=aborted)

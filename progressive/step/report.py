"""``progressive step report``: say how the run ended. Runs in ``finally`` with ``--status=$(tasks.status)``.

It reads the state record (and the live weights, when router flags are given), decides the outcome,
prints one JSON summary line, records an Event and sends the final notification:

=================  ==================================  ========================================================
status             state record                        outcome
=================  ==================================  ========================================================
not Failed         phase ``promoted``                  ``promoted``
Failed             phase ``promoted``                  ``failed`` after promotion (a later task failed)
Succeeded          anything else                       ``succeeded`` (the pipeline had no promote stage)
Failed             phase ``rolled-back``               ``rolled-back``, with why (verdict, abort, stage)
Completed, None    phase ``rolled-back``               ``rolled-back``, with why (stopped between stages, ...)
Failed             no traffic ever reached the canary  ``failed`` before any traffic shifted
Completed          no traffic ever reached the canary  ``stopped`` before any traffic shifted
None               no traffic ever reached the canary  ``unknown``: Tekton gave no aggregate status
Failed, Completed  anything else                       ``failed`` / ``stopped`` / ``unknown``: the rollback has not
or None                                                finished; traffic may still be split (the message says
                                                       where it stands)
=================  ==================================  ========================================================

``Completed`` is Tekton's aggregate status when stages were skipped and none failed: a run stopped with
``StoppedRunFinally``, or cancelled or timed out between two stages. The compiled rollback runs then too (it
runs unless the promote task succeeded), so the report waits for it as for a failed run.

Tekton runs ``finally`` tasks side by side, so unless the run promoted the report may start while the
rollback is still working; it waits up to ``--rollback-wait`` for the record to show the rollback's end
before it reports what it sees.

It exits 0 whatever the outcome (the pipeline's status already says it); only malformed flags exit 2.
A cluster that cannot be reached is reported in the summary, not as a failure. With router flags it also
reads the live weights; a promoted or rolled-back run whose routing object does not send 0% to the canary
says so in the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from progressive.errors import StepError, UsageError
from progressive.state import State
from progressive.step.announce import announce
from progressive.step.invocation import Invocation

if TYPE_CHECKING:
    from progressive.kube.client import Kube
    from progressive.routers.base import Target

__all__ = ["Outcome", "outcome", "run"]

ROLLBACK_POLL = 2.0
"""Seconds between reads of the record while waiting for the rollback to finish."""

ROLLBACK_DONE = frozenset({"rolled-back", "failed"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the report says: a short word, an Event reason, a sentence, and how loud."""

    word: Literal["promoted", "succeeded", "rolled-back", "failed", "stopped", "unknown"]
    """``outcome`` in the JSON line and the notification."""
    reason: str
    """Event reason."""
    message: str
    severity: Literal["info", "success", "warning", "error"]


def _shifted(state: State) -> bool:
    """Whether any traffic may have reached the canary in this run."""
    return bool(state.canary_weight) or bool(state.pending_weight) or state.phase in {"rolling-back", "promoting"}


def _why(state: State, status: str = "Failed") -> str:
    """Why the run did not promote, from the record: the abort, the failing verdict, or where it stopped."""
    if state.aborted is not None:
        reason = f": {state.aborted.reason}" if state.aborted.reason else ""
        return f"aborted by {state.aborted.by} at {state.aborted.at}{reason}"
    if state.verdict == "fail":
        summary = f": {state.summary}" if state.summary else ""
        return f"the analysis at {state.verdict_stage or 'a stage'} judged the canary bad{summary}"
    stopped_at = state.rolled_back_from or state.stage
    if status == "Completed":
        # Tekton's aggregate status when stages were skipped and none failed
        where = f" at or after stage {stopped_at!r}" if stopped_at else ""
        return (
            f"the run was stopped{where} with its remaining stages skipped (StoppedRunFinally, or a cancel or "
            "timeout between two stages)"
        )
    if stopped_at:
        return f"the run stopped at or after stage {stopped_at!r}"
    return "a stage failed" if status == "Failed" else f"Tekton gave no aggregate status ({status or 'none'})"


_ENDED: dict[str, tuple[Literal["failed", "stopped", "unknown"], str, str]] = {
    "Failed": ("failed", "RolloutFailed", "failed"),
    "Completed": ("stopped", "RolloutStopped", "ended"),
}
"""``--status`` of a run that did not promote -> (outcome word, Event reason, verb); else ``unknown``."""


def outcome(status: str, state: State, where: str) -> Outcome:
    """The outcome for ``--status`` and the record (see the module docstring's table)."""
    if state.phase == "promoted":
        if status != "Failed":
            return Outcome("promoted", "RolloutPromoted", f"{where} promoted: the canary is the new stable", "success")
        return Outcome(
            "failed",
            "RolloutFailed",
            f"{where} failed after promotion ({_why(state)}): the new version is stable",
            "error",
        )
    if status == "Succeeded":
        return Outcome(
            "succeeded",
            "RolloutSucceeded",
            f"{where}: all stages succeeded (phase {state.phase or 'unknown'})",
            "info",
        )
    word, reason, verb = _ENDED.get(status, ("unknown", "RolloutEnded", "ended"))  # None: no aggregate status
    why = _why(state, status)
    if state.phase == "rolled-back":
        return Outcome("rolled-back", "RolloutRolledBack", f"{where} rolled back to stable: {why}", "warning")
    if not _shifted(state):
        return Outcome(word, reason, f"{where} {verb} before any traffic reached the canary: {why}", "warning")
    weight = state.pending_weight if state.pending_weight is not None else state.canary_weight
    return Outcome(
        word,
        reason,
        f"{where} {verb} ({why}) and its rollback has not finished: phase {state.phase or 'unknown'}, "
        f"canary weight {weight}%; traffic may still be split, check the rollback task's log and "
        "`progressive status`",
        "error",
    )


def _wait_for_rollback(read: Callable[[], State], state: State, run_id: str, limit: float) -> State:
    """Re-read the record until the rollback's end shows (or nothing was shifted), at most ``limit`` s."""
    deadline = time.monotonic() + limit
    while state.phase not in ROLLBACK_DONE and _shifted(state):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(ROLLBACK_POLL, left))
        fresh = read()
        state = fresh.for_run(run_id) if run_id else fresh
    return state


def _summary(state: State) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "phase": state.phase or None,
        "last_stage": state.stage or None,
        "canary": state.canary_weight,
        "verdict": state.verdict or None,
        "verdict_stage": state.verdict_stage or None,
        "summary": state.summary or None,
        "approvals": [f"{a.stage} by {a.by}" for a in state.approvals if a.decision == "approved"] or None,
    }
    if state.aborted is not None:
        fields["aborted_by"] = state.aborted.by
        fields["abort_reason"] = state.aborted.reason or None
    return {key: value for key, value in fields.items() if value is not None}


def run(invocation: Invocation) -> int:
    """Report the run's outcome; see the module docstring."""
    status = invocation.text("status")
    namespace, rollout, run_id = invocation.text("namespace"), invocation.text("rollout"), invocation.text("run-id")
    where = f"rollout {namespace}/{rollout}" + (f" (run {run_id})" if run_id else "")
    target = _router_target(invocation)
    problems: list[str] = []
    kube: Kube | None = None
    state = State()
    try:
        from progressive.step.session import step_kube, step_store  # noqa: PLC0415

        kube = step_kube()
        store = step_store(kube, namespace, rollout, api_timeout=invocation.seconds("api-timeout"))
        record = store.current()  # read by the run lock when this run holds the rollout, else read now
        state = record.for_run(run_id) if run_id else record
        if status != "Succeeded" and state.phase != "promoted":  # the rollback runs beside this report
            state = _wait_for_rollback(store.read, state, run_id, invocation.seconds("rollback-wait"))
    except StepError as exc:
        problems.append(f"state record not read: {exc}")

    live: dict[str, Any] = {}
    if kube is not None and target is not None:
        live = _live_weights(kube, target, invocation.seconds("api-timeout"), state.stable_replicas, problems)

    result = outcome(status, state, where)
    live_canary = live.get("live_canary")
    if state.aborted is not None and result.word in {"promoted", "succeeded"}:
        problems.append(
            f"the abort by {state.aborted.by} at {state.aborted.at} came after the last stage that checks for one"
        )
    if live and result.word in {"promoted", "rolled-back"} and live_canary != 0:
        now = "a mix of weights" if live_canary is None else f"{live_canary}%"
        problems.append(f"but the routing object sends {now} to the canary now, not 0%")
    message = result.message
    if problems:
        message += " (" + "; ".join(problems) + ")"
    announce(
        invocation,
        kube,
        result.reason,
        message,
        warning=result.severity in {"warning", "error"},
        status=status,
        outcome=result.word,
        severity=result.severity,
        **_summary(state),
        **live,
    )
    return 0


def _router_target(invocation: Invocation) -> Target | None:
    """The routing object named by the router flags, ``None`` without ``--router``; incomplete flags: exit 2."""
    router = invocation.text("router")
    if not router:
        return None
    missing = [f"--{name}" for name in ("name", "stable", "canary") if not invocation.text(name)]
    if missing:
        raise UsageError(f"--router: {router!r} also needs {', '.join(missing)} to read the live weights")
    from progressive.routers.base import Target  # noqa: PLC0415 - only when live weights are asked for

    return Target(
        router=router,
        namespace=invocation.text("namespace"),
        name=invocation.text("name"),
        stable=invocation.text("stable"),
        canary=invocation.text("canary"),
        api_version=invocation.text("api-version"),
        istio_subsets=invocation.enabled("istio-subsets"),
        routes=tuple(route.strip() for route in invocation.text("routes").split(",") if route.strip()),
        annotation_prefix=invocation.text("annotation-prefix"),
        rollout=invocation.text("rollout"),
    )


def _live_weights(
    kube: Kube, target: Target, api_timeout: float, capacity: int | None, problems: list[str]
) -> dict[str, Any]:
    """The routing object's weights now, read through the router; a failure is noted, never fatal."""
    from progressive.kube.objects import Objects  # noqa: PLC0415
    from progressive.routers import open_router  # noqa: PLC0415

    try:
        reading = open_router(Objects(kube, api_timeout), target, capacity=capacity).read()
    except StepError as exc:
        problems.append(f"live weights not read: {exc}")
        return {}
    return {"live_canary": reading.effective, "live_weights": reading.to_json()}

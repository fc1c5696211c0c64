"""What the waiting steps share (``approve``, ``pause``, confirm webhooks): a resumable wait, abort checks.

A wait is recorded in the state record as ``phase`` + ``stage`` + ``waiting_since``. A step killed and run
again (a Tekton retry, a rescheduled Pod) finds its own stage already waiting and resumes the same wait, so
a pause does not hold longer than asked and an approval timeout does not start over.

An abort (``progressive abort``) is ``State.aborted``; every step that waits calls :func:`raise_if_aborted`
each time it polls, so an abort ends the wait within one poll interval, exit 7, and the pipeline's
``finally`` rolls traffic back. ``analyze`` should do the same (it polls the record anyway), and a step
that moves traffic forward (``set-weight``, ``promote``) should call it before writing, so an abort that
lands while no step waits still stops the run at the next stage instead of being outrun by it.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from progressive.errors import Rejected
from progressive.state import Phase, State
from progressive.step.announce import announce

if TYPE_CHECKING:
    from progressive.kube.client import Kube
    from progressive.kube.state_store import StateStore
    from progressive.step.invocation import Invocation

__all__ = ["Wait", "enter_wait", "raise_if_aborted", "seconds_since", "stop_if_aborted"]


def seconds_since(stamp: str, now: float | None = None) -> float:
    """Seconds from an RFC 3339 UTC stamp (``2026-01-31T12:00:00Z``) to ``now``; 0 when unparsable."""
    try:
        then = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return 0.0
    return max(0.0, (time.time() if now is None else now) - then)


def raise_if_aborted(state: State, what: str) -> None:
    """Raise :class:`Rejected` (exit 7) naming who aborted, when and why, if the run was aborted."""
    aborted = state.aborted
    if aborted is None:
        return
    reason = f": {aborted.reason}" if aborted.reason else ""
    raise Rejected(f"{what}: the rollout was aborted by {aborted.who()} at {aborted.at}{reason}")


def stop_if_aborted(invocation: Invocation, kube: Kube, state: State, what: str) -> None:
    """:func:`raise_if_aborted`, announcing the abort first (Event and notification, as a transition)."""
    try:
        raise_if_aborted(state, what)
    except Rejected as exc:
        aborted = state.aborted
        assert aborted is not None
        announce(
            invocation,
            kube,
            "Aborted",
            str(exc),
            warning=True,
            stage=invocation.text("stage"),
            aborted_by=aborted.by,
            aborted_at=aborted.at,
            abort_reason=aborted.reason or None,
        )
        raise


@dataclass(frozen=True, slots=True)
class Wait:
    """A wait entered by :func:`enter_wait`: the record as it was then, and whether this process started it."""

    state: State
    started_here: bool
    """``False`` when a previous run of the step (killed, retried) started the wait and this one resumes it."""
    origin: float
    """``time.monotonic()`` at the wait's beginning (in the past when resumed)."""

    @property
    def elapsed(self) -> float:
        """Seconds since the wait began, across restarts (to the second, the record's resolution)."""
        return time.monotonic() - self.origin


def enter_wait(store: StateStore, *, run_id: str, stage: str, phase: Phase) -> Wait:
    """Record that ``stage`` waits in ``phase`` (unless it already does: then resume that wait)."""
    from progressive.kube.state_store import now_rfc3339  # noqa: PLC0415

    started_here = False
    stamp = now_rfc3339()

    def enter(state: State) -> State:
        nonlocal started_here
        state = state.for_run(run_id)
        if state.phase == phase and state.stage == stage and state.waiting_since:
            started_here = False
            return state
        started_here = True
        return state.evolve(phase=phase, stage=stage, waiting_since=stamp)

    state = store.update(enter)
    # A wait this process starts counts from now; the record's stamp (whole seconds) would make it up to a
    # second short. A resumed wait counts from the stamp a previous run of the step wrote.
    origin = time.monotonic() - (0.0 if started_here else seconds_since(state.waiting_since))
    return Wait(state, started_here, origin)

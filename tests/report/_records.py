"""State records with a timeline, as the steps write them, for the report tests."""

from __future__ import annotations

import time

from progressive.state import Approval, State

T0 = 1_790_000_000.0
"""When the made-up runs begin (unix seconds)."""


def rolled_back_record() -> State:
    """A run that passed at 5%, waited at a gate, then was judged bad at 20% and rolled back."""
    state = State(run_id="web-x7k2p").mark("weight", "set-weight-5", at=T0 + 1, weight=5, phase="progressing")
    for i in range(10):
        state = state.mark(
            "poll", "analyze-5", at=T0 + 5 + 5 * i, dwell=5.0 * i, verdict="continue", threshold=40.0,
            e={"errors": 1.0 + i / 10, "slow": 0.8}, counts={"errors": [1, 100, 9, 900], "slow": [1, 100, 9, 900]},
        )  # fmt: skip
    state = state.mark("verdict", "analyze-5", at=T0 + 60, verdict="pass", summary="pass: every metric healthy")
    approval = Approval("approved", "alice", "2026-09-21T10:01:05Z", stage="approve-20", authenticated=True)
    state = state.evolve(approvals=(approval,)).mark(
        "gate", "approve-20", at=T0 + 65, decision="approved", by=approval.who(), at_time=approval.at
    )
    state = state.mark("weight", "set-weight-20", at=T0 + 70, weight=20, phase="progressing")
    for i in range(8):
        state = state.mark(
            "poll", "analyze-20", at=T0 + 75 + 5 * i, dwell=5.0 * i, verdict="continue", threshold=40.0,
            e={"errors": 2.0**i, "slow": 0.8}, counts={"errors": [10, 100, 9, 900], "slow": [1, 100, 9, 900]},
        )  # fmt: skip
    summary = "fail: canary worse than baseline: errors: canary 10% (80 of 800) vs baseline 1% (72 of 7200) = 10x"
    state = state.mark("verdict", "analyze-20", at=T0 + 120, verdict="fail", summary=summary)
    state = state.evolve(
        phase="rolled-back", verdict="fail", verdict_stage="analyze-20", summary=summary, rolled_back_from="analyze-20"
    )
    return state.mark("weight", "rollback", at=T0 + 122, weight=0, phase="rolling-back").mark(
        "outcome", "analyze-20", at=T0 + 123, phase="rolled-back"
    )


def stamp(seconds_after_start: float) -> str:
    """An RFC 3339 time ``seconds_after_start`` after :data:`T0`, as Events carry it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 + seconds_after_start))


def event(reason: str, message: str, at: str, *, warning: bool = False) -> dict[str, object]:
    """An Event as ``progressive.kube.events`` records it (the fields the report reads)."""
    return {
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": {"component": "progressive"},
        "lastTimestamp": at,
        "involvedObject": {"kind": "Deployment", "name": "web-canary"},
    }

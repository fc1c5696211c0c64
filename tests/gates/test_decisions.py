"""Approve and abort as pure changes of the state record."""

from __future__ import annotations

import re

import pytest

from progressive import decisions
from progressive.decisions import DecisionError
from progressive.state import Approval, State

AT = "2026-05-01T12:00:00Z"
WAITING = State(run_id="podinfo-x7k2p", phase="waiting-approval", stage="approve-20")


def test_approve_the_stage_being_waited_at() -> None:
    after = decisions.approve(WAITING, stage=None, by="alice", at=AT)
    assert after.approvals == (Approval("approved", "alice", AT, "approve-20"),)
    assert after.approval_for("approve-20") == Approval("approved", "alice", AT, "approve-20")
    assert after.approval_for("approve-50") is None  # an approval never opens another gate


def test_approving_twice_changes_nothing() -> None:
    once = decisions.approve(WAITING, stage=None, by="alice", at=AT)
    twice = decisions.approve(once, stage="approve-20", by="bob", at="2026-05-01T12:05:00Z")
    assert twice == once


def test_approve_ahead_of_time() -> None:
    analyzing = State(run_id="r1", phase="analyzing", stage="analyze-10")
    after = decisions.approve(analyzing, stage="approve-50", by="alice", at=AT)
    assert after.approval_for("approve-50") is not None
    assert after.phase == "analyzing"


def test_nothing_waiting_is_a_clear_error() -> None:
    analyzing = State(run_id="r1", phase="analyzing", stage="analyze-10")
    message = (
        "nothing is waiting for approval: run 'r1' (phase 'analyzing', stage 'analyze-10'); "
        "pass --stage to approve a stage before it is reached"
    )
    with pytest.raises(DecisionError, match=re.escape(message)):
        decisions.approve(analyzing, stage=None, by="alice", at=AT)


@pytest.mark.parametrize("phase", ["promoted", "rolled-back", "failed"])
def test_a_finished_run_takes_no_decisions(phase: str) -> None:
    done = State(run_id="r1", phase=phase)  # type: ignore[arg-type]
    with pytest.raises(
        DecisionError, match=f"run 'r1' \\(phase '{phase}'\\) is not running; there is nothing to approve"
    ):
        decisions.approve(done, stage="approve-20", by="alice", at=AT)
    with pytest.raises(DecisionError, match="is not running; there is nothing to abort"):
        decisions.abort(done, by="alice", at=AT)


def test_no_record_at_all() -> None:
    with pytest.raises(DecisionError, match=r"the current run \(phase 'not started'\) is not running"):
        decisions.approve(State(), stage="approve-20", by="alice", at=AT)


def test_abort_records_who_why_and_where() -> None:
    after = decisions.abort(WAITING, by="alice", at=AT, reason="error budget burnt")
    assert after.aborted == Approval("aborted", "alice", AT, "approve-20", "error budget burnt", run_id=WAITING.run_id)
    assert after.approval_for("approve-20") == after.aborted  # an abort wins over any approval
    assert decisions.abort(after, by="bob", at="2026-05-01T13:00:00Z") == after


def test_approve_after_abort_is_refused() -> None:
    aborted = decisions.abort(WAITING, by="alice", at=AT)
    with pytest.raises(DecisionError, match=f"was aborted by alice at {AT}; there is nothing to approve"):
        decisions.approve(aborted, stage=None, by="bob", at=AT)


def test_abort_while_rolling_back_is_refused() -> None:
    with pytest.raises(DecisionError, match="is already rolling back"):
        decisions.abort(State(run_id="r1", phase="rolling-back"), by="alice", at=AT)


def test_decisions_survive_the_record_round_trip() -> None:
    after = decisions.abort(decisions.approve(WAITING, stage=None, by="alice", at=AT), by="bob", at=AT, reason="x")
    assert State.from_json(after.to_json()) == after


def test_a_new_run_forgets_the_decisions() -> None:
    after = decisions.abort(decisions.approve(WAITING, stage=None, by="alice", at=AT), by="bob", at=AT)
    fresh = after.for_run("podinfo-next")
    assert (fresh.approvals, fresh.aborted) == ((), None)

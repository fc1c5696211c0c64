"""``progressive approve ROLLOUT [-n NS] [--stage S] [--by NAME]``: let a rollout waiting at an Approve gate go on.

Without ``--stage`` it approves the stage the rollout is waiting at (state ``phase`` ``waiting-approval``)
and fails with a clear message when nothing is waiting; with ``--stage`` it approves that stage, also ahead
of time. The approval is written to the Secret ``progressive-ROLLOUT-approvals`` (the state record is only
read), naming the user the API server authenticated; it needs the Role ``progressive-ROLLOUT-approver``. The
pipeline's ``approve`` step sees the approval at its next poll and exits 0. Approving twice changes nothing.
See ``progressive.commands._decide`` for credentials, the Event and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from progressive import decisions
from progressive.commands._decide import Decided, Identity, add_common_arguments, decide
from progressive.naming import is_dns_label
from progressive.state import Approval, State

if TYPE_CHECKING:
    from progressive.kube.state_store import StateStore

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive approve``."""
    add_common_arguments(parser)
    parser.add_argument("--stage", default="", help="Stage to approve (default: the one the rollout is waiting at).")


def run(args: argparse.Namespace) -> int:
    """Record the approval; see the module docstring."""
    stage: str = args.stage
    if stage and not is_dns_label(stage):
        print(f"progressive approve: --stage: {stage!r} is not a stage name (a pipeline task name)", file=sys.stderr)
        return 2

    recorded: list[tuple[Approval, bool]] = []

    def change(state: State, who: Identity, at: str, store: StateStore) -> State:
        from progressive.kube.approvals import ApprovalStore  # noqa: PLC0415 - slow imports, only when running

        checked = decisions.approve(state, stage=stage or None, by=who.by, at=at)  # raises if it does not apply
        target = decisions.approval_stage(state, stage or None)
        wanted = Approval(
            "approved", who.by, at, target, run_id=checked.run_id, authenticated=who.authenticated, note=who.note
        )
        standing = ApprovalStore(store.objects, store.ref.namespace, store.rollout).add(wanted)
        recorded[:] = [(standing, standing == wanted)]
        return state  # the record is the steps' to write: the approve step copies the approval into it

    def report(decided: Decided) -> tuple[str, str, str]:
        approval, added = recorded[-1]
        where = f"stage {approval.stage!r} of rollout {decided.namespace}/{decided.rollout}"
        run_id = decided.after.run_id
        if not added:
            return "", "", f"{where} was already approved by {approval.who()} at {approval.at}"
        message = f"{where} approved by {decided.by}" + (f" (run {run_id})" if run_id else "")
        line = message
        if decided.after.phase != "waiting-approval" or decided.after.stage != approval.stage:
            now = decided.after.stage or "no stage yet"
            line += f"; the rollout is at {now!r} (phase {decided.after.phase or 'not started'}), so it applies later"
        return "Approved", message, line

    return decide(args, "approve", change, report)

"""``progressive approve ROLLOUT [-n NS] [--stage S] [--by NAME]``: let a rollout waiting at an Approve gate go on.

Without ``--stage`` it approves the stage the rollout is waiting at (state ``phase`` ``waiting-approval``)
and fails with a clear message when nothing is waiting; with ``--stage`` it approves that stage, also ahead
of time. The pipeline's ``approve`` step sees the approval at its next poll and exits 0. Approving twice
changes nothing. See ``progressive.commands._decide`` for credentials, the Event and exit codes.
"""

from __future__ import annotations

import argparse
import sys

from progressive import decisions
from progressive.commands._decide import Decided, add_common_arguments, decide
from progressive.naming import is_dns_label
from progressive.state import State

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

    def change(state: State, by: str, at: str) -> State:
        return decisions.approve(state, stage=stage or None, by=by, at=at)

    def report(decided: Decided) -> tuple[str, str, str]:
        target = decisions.approval_stage(decided.before, stage or None)
        where = f"stage {target!r} of rollout {decided.namespace}/{decided.rollout}"
        run_id = decided.after.run_id
        if not decided.changed:
            first = next(a for a in decided.after.approvals if a.decision == "approved" and a.stage == target)
            return "", "", f"{where} was already approved by {first.by} at {first.at}"
        message = f"{where} approved by {decided.by}" + (f" (run {run_id})" if run_id else "")
        line = message
        if decided.after.phase != "waiting-approval" or decided.after.stage != target:
            now = decided.after.stage or "no stage yet"
            line += f"; the rollout is at {now!r} (phase {decided.after.phase or 'not started'}), so it applies later"
        return "Approved", message, line

    return decide(args, "approve", change, report)

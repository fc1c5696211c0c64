"""``progressive abort ROLLOUT [-n NS] [--reason TEXT] [--by NAME]``: stop a running rollout and roll it back.

It marks the run's state record as aborted. Every step of the run that waits (``approve``, ``pause``, the
``confirm-*`` webhook gates, ``analyze``) reads the record each poll and fails with exit 7 at its next
poll; the stage fails, later stages are skipped, and the pipeline's ``finally`` rolls traffic back to
stable. A step that does not wait (a weight change, a deploy) finishes first, and the next waiting step
stops. Aborting twice changes nothing; a finished run cannot be aborted.

To stop a Tekton run at once instead, cancel it so that ``finally`` still runs:
``tkn pipelinerun cancel RUN --grace CancelledRunFinally`` (a plain cancel skips ``finally``, and with it
the rollback). See ``progressive.commands._decide`` for credentials, the Event and exit codes.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from progressive import decisions
from progressive.commands._decide import Decided, Identity, add_common_arguments, decide
from progressive.state import State

if TYPE_CHECKING:
    from progressive.kube.state_store import StateStore

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive abort``."""
    add_common_arguments(parser)
    parser.add_argument("--reason", default="", help="Why, recorded with the abort and shown in the failed step.")


def run(args: argparse.Namespace) -> int:
    """Record the abort; see the module docstring."""
    reason: str = " ".join(args.reason.split())

    def change(state: State, who: Identity, at: str, store: StateStore) -> State:
        del store  # an abort is the record's: it only ever sends traffic back to stable
        return decisions.abort(state, by=who.by, at=at, reason=reason, authenticated=who.authenticated, note=who.note)

    def report(decided: Decided) -> tuple[str, str, str]:
        where = f"rollout {decided.namespace}/{decided.rollout}"
        aborted = decided.after.aborted
        assert aborted is not None
        if not decided.changed:
            return "", "", f"{where} was already aborted by {aborted.who()} at {aborted.at}"
        state = decided.after
        at_stage = f" at stage {state.stage!r}" if state.stage else ""
        because = f": {reason}" if reason else ""
        message = f"{where} aborted by {decided.by}{at_stage} (run {state.run_id or 'unknown'}){because}"
        line = (
            f"{message}\nThe waiting step fails at its next poll and the pipeline's finally rolls traffic back. "
            "A weight change or deploy in progress finishes first."
        )
        return "Aborted", message, line

    return decide(args, "abort", change, report)

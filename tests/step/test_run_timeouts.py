"""The PipelineRun timeouts check's rules (pure); real refused PipelineRuns are in tests/e2e/test_one_run.py."""

from __future__ import annotations

import pytest

from progressive.compile._pipeline import TIMEOUT_ANNOTATIONS as COMPILED
from progressive.step.run_timeouts import TIMEOUT_ANNOTATIONS, Budgets, needed_budgets, problems, run_budgets

NEEDED = Budgets(3600, 3120, 480)
"""The e2e rollout: pipeline 1h, tasks 52m, finally 8m."""


def test_the_step_reads_the_annotations_the_compiler_writes() -> None:
    assert dict(TIMEOUT_ANNOTATIONS) == dict(COMPILED)


@pytest.mark.parametrize(
    ("timeouts", "why"),
    [
        ({}, "finally has no budget of its own"),  # Tekton's 60 minutes for everything
        ({"pipeline": "1h0m0s"}, "finally has no budget of its own"),
        ({"pipeline": "6h0m0s"}, "finally has no budget of its own"),  # time enough, but finally is still cancelled
        ({"pipeline": "1h0m0s", "tasks": "1h0m0s"}, "finally has no budget of its own"),
        ({"pipeline": "1h0m0s", "finally": "2m0s"}, "finally gets 2m, the rollback and report need 8m"),
        ({"pipeline": "1h0m0s", "tasks": "57m0s"}, "finally gets 3m, the rollback and report need 8m"),
        ({"pipeline": "1h0m0s", "tasks": "30m0s", "finally": "8m0s"}, "the stages get 30m, they need 52m"),
    ],
)
def test_unsafe_timeouts_are_named(timeouts: dict[str, str], why: str) -> None:
    given, own_finally = run_budgets(timeouts)
    assert why in "; ".join(problems(given, own_finally, NEEDED))


@pytest.mark.parametrize(
    "timeouts",
    [
        {"pipeline": "1h0m0s", "tasks": "52m0s", "finally": "8m0s"},  # what the compiler asks for
        {"pipeline": "2h0m0s", "tasks": "1h30m0s", "finally": "30m0s"},  # more is fine
        {"pipeline": "1h0m0s", "tasks": "52m0s"},  # finally gets the 8m left
        {"pipeline": "0s"},  # no limit at all: nothing cancels finally
    ],
)
def test_safe_timeouts_pass(timeouts: dict[str, str]) -> None:
    given, own_finally = run_budgets(timeouts)
    assert problems(given, own_finally, NEEDED) == []


def test_without_annotations_the_needs_come_from_the_resolved_spec() -> None:
    run = {
        "status": {
            "pipelineSpec": {
                "tasks": [{"name": "deploy", "timeout": "11m"}, {"name": "promote", "timeout": "15m"}],
                "finally": [{"name": "rollback", "timeout": "14m"}, {"name": "report", "timeout": "2m"}],
            }
        }
    }
    assert needed_budgets(run) == Budgets(40 * 60, 26 * 60, 14 * 60)
    annotated = {"metadata": {"annotations": dict.fromkeys(TIMEOUT_ANNOTATIONS.values(), "1h")}, **run}
    assert needed_budgets(annotated) == Budgets(3600, 3600, 3600)

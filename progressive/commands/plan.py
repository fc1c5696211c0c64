"""``progressive plan FILE.py...``: each rollout's stages as a table, before anything runs.

Per stage: its name (the pipeline task), kind, the canary weight once it is done, its time budget (the
pipeline task's timeout) and what gates it (analysis, approval, webhooks, hooks); then ``finally``, what
rollback does, and the total budget against the PipelineRun's timeouts. The table is built from the same
stage invocations the compiler turns into the Pipeline.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from progressive.commands._rollouts import load_rollouts
from progressive.compile import StageInvocation, stage_invocations
from progressive.duration import format_duration, parse_duration
from progressive.model import (
    Analyze,
    Approve,
    Pause,
    Rollout,
    Run,
    SequentialJudge,
    SetWeight,
    ThresholdJudge,
    Webhook,
)

__all__ = ["add_arguments", "render_plan", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive plan``."""
    parser.add_argument("files", nargs="+", metavar="FILE.py", help="Python files that define Rollouts.")


def _rollback_text(rollout: Rollout) -> str:
    policy = rollout.rollback
    if policy.mode == "instant":
        return "instant: all traffic to stable in one verified write, then the canary scaled to 0"
    return (
        f"stepped: canary weight down {policy.step_weight}% every {policy.step_interval} "
        "(stable checked available before each step), then the canary scaled to 0"
    )


def _flag_text(flags: Mapping[str, str]) -> str:
    """What a flag-set stage does (the ``finally`` one: only when the run did not succeed)."""
    text = f"flag {flags['flag']} ({flags['source']} {flags['name']}): {flags['split']}"
    text += ", verified through flagd" if flags.get("evaluation-url") else ", read back from the object"
    if flags["stage"].startswith("flag-rollback"):
        text = "only if a stage failed, timed out or was cancelled: " + text
    return text


def _analysis_text(rollout: Rollout, step: Analyze) -> str:
    assert rollout.analysis is not None
    judge = rollout.analysis.judge
    compared = f"vs baseline ({rollout.analysis.provider})"
    if step.compare == "variants" and rollout.flag is not None:
        compared = f"flag {rollout.flag.key}: {rollout.flag.variant} vs {rollout.flag.baseline} (openfeature)"
    if isinstance(judge, SequentialJudge):
        return (
            f"sequential judge {compared}: pass after {step.min_duration} "
            f"if healthy, fail as soon as bad (alpha {judge.alpha}); "
            f"inconclusive at {step.max_duration}: {_INCONCLUSIVE[judge.on_inconclusive]}"
        )
    assert isinstance(judge, ThresholdJudge)
    checks = ", ".join(
        f"{check.name} {'>=' + str(check.min) if check.min is not None else ''}"
        f"{' ' if check.min is not None and check.max is not None else ''}"
        f"{'<=' + str(check.max) if check.max is not None else ''}"
        for check in judge.checks
    )
    return f"threshold checks: {checks}; inconclusive: {_INCONCLUSIVE['hold']}"


_INCONCLUSIVE = {
    "advance": "goes on, reported inconclusive (on_inconclusive=advance)",
    "hold": "the stage fails (exit 4), rollback",
    "fail": "the stage fails as bad (exit 1, on_inconclusive=fail), rollback",
}
"""What a stage does when its analysis ends inconclusive, per the judge's ``on_inconclusive``."""


def _gate(rollout: Rollout, invocation: StageInvocation) -> str:
    step = invocation.stage.step
    rollback_hook = "; rollback webhook polled" if invocation.flags.get("rollback-webhook") else ""
    if isinstance(step, Analyze):
        return _analysis_text(rollout, step) + rollback_hook
    if isinstance(step, Approve):
        return f"waits for `progressive approve {rollout.name}` (fails after {step.timeout})"
    if isinstance(step, Pause):
        return f"holds {step.duration}" + rollback_hook
    if isinstance(step, Run):
        return f"hook container {step.image}"
    if isinstance(step, Webhook):
        return f"webhook {step.name} ({step.type}) {step.url}"
    if isinstance(step, SetWeight):
        return "verified by read-back"
    kind = invocation.stage.kind
    if kind == "flag-set":
        return _flag_text(invocation.flags)
    if kind == "deploy":
        return f"new image on {rollout.workload.canary}, available within {rollout.workload.progress_deadline}"
    if kind == "promote":
        return f"canary's pod template copied to {rollout.workload.stable}, which then takes all traffic"
    if kind == "rollback":
        return f"only if a stage failed, timed out or was cancelled ({rollout.rollback.mode}, see below)"
    if kind == "report":
        return "always: final state, Event, notifications"
    return ""


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    right = {0, 3, 4}
    lines = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def render_plan(rollout: Rollout) -> str:
    """The plan of one rollout, as text."""
    invocations = stage_invocations(rollout)
    header = ("#", "stage", "kind", "canary", "budget", "gate / what it does")
    rows: list[tuple[str, ...]] = [header]
    number = 0
    for invocation in invocations:
        stage = invocation.stage
        if invocation.final:
            index = "fin"
        else:
            number += 1
            index = str(number)
        weight = "" if stage.kind in {"rollback", "report", "webhook"} and invocation.final else f"{stage.weight}%"
        rows.append((index, stage.name, stage.kind, weight, invocation.timeout, _gate(rollout, invocation)))
    plan = rollout.plan()
    timeouts = rollout.timeouts
    tasks = rollout.timeouts.tasks_seconds
    lines = [
        f"Rollout {rollout.name} (namespace {rollout.namespace}): {rollout.workload.stable} -> "
        f"{rollout.workload.canary}, router {rollout.router.type}",
        *_table(rows),
        f"  stages budget {format_duration(plan.stages_budget)} of {format_duration(tasks)} for tasks "
        f"(pipeline {timeouts.pipeline} - finally {timeouts.finally_})",
        f"  finally budget {format_duration(plan.final_budget)} of {timeouts.finally_} "
        f"({format_duration(parse_duration(timeouts.finally_) - plan.final_budget)} to spare)",
        f"  rollback: {_rollback_text(rollout)}",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the plan of every rollout of the files."""
    texts = [render_plan(loaded.rollout) for loaded in load_rollouts(args.files)]
    print("\n\n".join(texts))
    return 0

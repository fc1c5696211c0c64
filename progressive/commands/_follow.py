"""Follow a PipelineRun from the outside: its status and its TaskRuns', printed as they change.

Only the API is read (the PipelineRun, then each TaskRun it lists), never pod logs, so following works
with the permissions of someone who may read runs but not pods, and against any API server. What is
printed, one line per change, with the time since following started:

* the PipelineRun's state (``Running``, then ``Succeeded``, ``Failed``, ``PipelineRunTimeout``,
  ``Cancelled``...), with Tekton's message when it finishes;
* each task when it starts and when it ends (reason, time taken, Tekton's message on failure) and the
  results its step wrote (``verdict``, ``summary``, ``weight``, ``approved-by``);
* the tasks Tekton skipped, with the reason.

When the run ends, one summary line: which stage failed and why, and how the rollback went. Exit code
0 when the PipelineRun succeeded, 1 when it did not, 130 on Ctrl-C (the run goes on in the cluster: the
summary says how to stop it so that the rollback still runs).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from progressive.commands._tekton import PIPELINERUNS, TASKRUNS, Condition, children, condition, results, skipped
from progressive.duration import format_duration
from progressive.errors import NotFoundError, StepError

if TYPE_CHECKING:
    from progressive.commands._watch import Watch
    from progressive.kube.objects import JSON, Objects

__all__ = ["UNCLAIMED_AFTER", "Follower", "follow"]

UNCLAIMED_AFTER = 60.0
"""Seconds after which a PipelineRun without any status gets a note: Tekton may not be running."""

_SHOWN_RESULTS = ("verdict", "summary", "weight", "approved-by")
"""TaskRun results worth a line, in this order; anything else a custom Task writes is left out."""


@dataclass
class _Task:
    """What has been printed about one pipeline task."""

    started: bool = False
    condition: Condition = field(default_factory=Condition)
    results: dict[str, str] = field(default_factory=dict)


@dataclass
class Follower:
    """Turns successive reads of a PipelineRun (and its TaskRuns) into lines; the reading is the caller's."""

    name: str
    finally_tasks: Collection[str] = ()
    rollback_task: str = ""
    """The ``finally`` task that rolls back (its Task is ``progressive-rollback``), if the Pipeline has one."""
    write: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    _began: float = field(default=0.0)
    _run: Condition = field(default_factory=Condition)
    _tasks: dict[str, _Task] = field(default_factory=dict)
    _skipped: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._began = self.clock()

    def _line(self, text: str) -> None:
        elapsed = format_duration(math.floor(self.clock() - self._began))
        self.write(f"{elapsed:>7}  {text}")

    def observe_run(self, run: JSON) -> None:
        """Print what changed in the PipelineRun's own condition and skipped tasks."""
        now = condition(run)
        if (now.status, now.reason) != (self._run.status, self._run.reason):
            detail = f": {now.message}" if now.done and now.message else ""
            self._line(f"PipelineRun {self.name} {now.label}{detail}")
            self._run = now
        for task, reason in skipped(run).items():
            if task not in self._skipped:
                self._skipped.add(task)
                self._line(f"{task:<20} skipped ({reason})")

    def observe_task(self, pipeline_task: str, task_run: JSON) -> None:
        """Print what changed in one TaskRun: started, finished, results."""
        seen = self._tasks.setdefault(pipeline_task, _Task())
        now = condition(task_run)
        status = task_run.get("status") or {}
        if not seen.started and (status.get("startTime") or now.status):
            seen.started = True
            self._line(f"{pipeline_task:<20} started (TaskRun {task_run['metadata']['name']})")
        found = results(task_run)
        new = {key: found[key] for key in _SHOWN_RESULTS if key in found and seen.results.get(key) != found[key]}
        if new:
            seen.results.update(new)
            self._line(f"{pipeline_task:<20} " + "  ".join(f"{key}={value}" for key, value in new.items()))
        if now.done and not seen.condition.done:
            took = _took(status)
            detail = f": {now.message}" if not now.succeeded and now.message else ""
            self._line(f"{pipeline_task:<20} {now.label}{took}{detail}")
        seen.condition = now

    def task_done(self, pipeline_task: str) -> bool:
        """Whether the task's end was already printed (its TaskRun need not be read again)."""
        task = self._tasks.get(pipeline_task)
        return task is not None and task.condition.done

    def summary(self) -> str:
        """One line on how the run ended: the failed stage and the rollback."""
        run = self._run
        if run.succeeded:
            inconclusive = [name for name, task in self._tasks.items() if task.results.get("verdict") == "inconclusive"]
            if inconclusive:
                return (
                    f"{self.name} succeeded: the canary was promoted, but the analysis of "
                    f"{', '.join(inconclusive)} was inconclusive (on_inconclusive=advance let it go on)"
                )
            return f"{self.name} succeeded: every stage passed and the canary was promoted"
        failed = [
            (name, task.condition)
            for name, task in self._tasks.items()
            if name not in self.finally_tasks and task.condition.status == "False"
        ]
        parts = [f"{self.name} {run.label.lower() if run.label else 'failed'}"]
        if failed:
            name, why = failed[0]
            verdict = self._tasks[name].results.get("summary", "")
            parts.append(f"stage {name} failed ({why.label}{': ' + why.message if why.message else ''})")
            if verdict:
                parts.append(f"evidence: {verdict}")
        rollback = self._tasks.get(self.rollback_task)
        if self.rollback_task in self._skipped:
            parts.append(f"rollback {self.rollback_task} skipped")
        elif rollback is not None:
            parts.append(f"rollback {self.rollback_task} {rollback.condition.label.lower()}")
        return "; ".join(parts)


def _took(status: JSON) -> str:
    start, end = status.get("startTime"), status.get("completionTime")
    if not (isinstance(start, str) and isinstance(end, str)):
        return ""
    try:
        from datetime import datetime  # noqa: PLC0415

        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return ""
    return f" in {format_duration(seconds)}"


def follow(
    objects: Objects,
    namespace: str,
    name: str,
    *,
    poll_interval: float,
    finally_tasks: Collection[str],
    rollback_task: str,
    rollout: str,
    live: bool = False,
) -> int:
    """Print the run's progress until it ends; exit code 0 succeeded, 1 failed, 130 interrupted.

    On a terminal (``live``) the rollout's status (``progressive status``'s table: weights read from the
    routing object, the judge's evidence now, a gate waiting) stays under the lines, redrawn at every poll.
    """
    from progressive.commands._watch import Watch  # noqa: PLC0415

    with Watch(sys.stdout, live=live) as view:
        follower = Follower(name, finally_tasks, rollback_task, write=view.line)
        return _follow(objects, follower, view, namespace=namespace, rollout=rollout, poll_interval=poll_interval)


def _status_view(objects: Objects, namespace: str, rollout: str) -> str:
    """``progressive status``'s table for the live view, or why it cannot be read now."""
    from progressive.commands.status import read_status, table  # noqa: PLC0415

    try:
        return table(read_status(objects.kube, namespace, rollout, api_timeout=objects.api_timeout))
    except StepError as exc:
        return f"status: {exc}"


def _follow(
    objects: Objects, follower: Follower, view: Watch, *, namespace: str, rollout: str, poll_interval: float
) -> int:
    name = follower.name
    view.line(f"following PipelineRun {namespace}/{name} (Ctrl-C stops following; the run goes on)")
    began = time.monotonic()
    noted = False
    try:
        while True:
            run = objects.find(PIPELINERUNS.ref(namespace, name))
            if run is None:
                raise NotFoundError(f"PipelineRun {namespace}/{name} was deleted while being followed")
            if not noted and not condition(run).status and time.monotonic() - began > UNCLAIMED_AFTER:
                noted = True
                view.line(
                    f"note: no controller has picked {name} up after {format_duration(UNCLAIMED_AFTER)}; is Tekton "
                    "Pipelines running (kubectl get pods -n tekton-pipelines)?"
                )
            for child in children(run):
                if follower.task_done(child.pipeline_task):
                    continue
                task_run = objects.find(TASKRUNS.ref(namespace, child.name))
                if task_run is not None:
                    follower.observe_task(child.pipeline_task, task_run)
            follower.observe_run(run)
            if view.live:
                view.show(_status_view(objects, namespace, rollout))
            if condition(run).done:
                view.line(follower.summary())
                return 0 if condition(run).succeeded else 1
            time.sleep(poll_interval)
    except KeyboardInterrupt:
        print(
            f"\nstopped following {name}; it goes on in the cluster: progressive status {rollout} -n {namespace}\n"
            f"to stop it and roll back: tkn pipelinerun cancel {name} -n {namespace} --grace CancelledRunFinally",
            file=sys.stderr,
        )
        return 130

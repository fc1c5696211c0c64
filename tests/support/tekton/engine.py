"""One PipelineRun, run the way Tekton's PipelineRun and TaskRun reconcilers run it.

The engine owns the run's state; a worker thread per TaskRun attempt runs the steps
(:mod:`tests.support.tekton.executor`) and reports back through a queue, so every decision is taken in
one thread, in a deterministic order. What it decides, and where Tekton decides the same
(tektoncd/pipeline ``pkg/reconciler/pipelinerun``, v1 API):

* **Start**: ``startTime`` and ``Succeeded=Unknown/Started``, then the Pipeline and its Tasks are
  resolved from the API server (``CouldntGetPipeline``, ``CouldntGetTask``), the params checked
  (``ParameterMissing``), the graph built (``PipelineInvalidGraph``), result references checked
  (``InvalidTaskResultReference``); then ``Unknown/Running``.
* **Order**: a DAG task starts when all its parents (``runAfter`` and result producers) are done. Ready
  tasks start *concurrently*, launched in declaration order. A parent skipped by its own ``when`` does not
  skip its children, but a child reading its results is skipped (``Results were missing``); a parent
  skipped for any other reason skips its children (``Parent Tasks were skipped``).
* **Failure**: once a DAG task fails, no new DAG task starts; pending ones are skipped (``PipelineRun
  was stopping``); running ones finish. Failed attempts are retried while ``retries`` allow (the retry
  reuses the TaskRun and moves the previous status into ``retriesStatus``); a cancelled one never is.
* **finally**: when every DAG task is done, all finally tasks start at once, each unless its ``when``
  (with ``$(tasks.status)``, ``$(tasks.X.status)``, ``$(tasks.X.reason)``, params and DAG results) is
  false or a DAG result it reads is missing.
* **Timeouts**: a pipeline task's ``timeout`` bounds each attempt (``TaskRunTimeout``, then retried like
  any failure); ``timeouts.tasks`` cancels running DAG TaskRuns and starts no new one, then finally runs;
  ``timeouts.finally`` cancels running finally TaskRuns; ``timeouts.pipeline`` cancels everything. TaskRuns
  cancelled by a timeout count as failed; the PipelineRun ends ``False/PipelineRunTimeout``.
* **Cancellation** (``spec.status``): ``Cancelled`` cancels every running TaskRun and runs nothing else,
  not even finally; ``CancelledRunFinally`` cancels running DAG TaskRuns, skips pending ones and runs
  finally; ``StoppedRunFinally`` lets running DAG tasks finish (with retries), starts no new one, then
  runs finally. Cancelled TaskRuns report ``TaskRunCancelled`` and make ``$(tasks.status)`` ``Failed``.
* **End**: the condition ``GetPipelineConditionStatus`` computes (``Succeeded``, ``Completed``,
  ``Failed``, ``Cancelled``, ``PipelineRunTimeout``) with Tekton's message
  ``Tasks Completed: N (Failed: F, Cancelled C), Skipped: S``, ``completionTime``, ``childReferences``,
  ``skippedTasks`` and the Pipeline's ``results``.

What is written back is built by :mod:`tests.support.tekton.status`; the per-task state and the counts
and status variables derived from it live in :mod:`tests.support.tekton.state`.

Deliberate simplifications, each visible in the status rather than hidden: no Kubernetes Events for runs,
no ``provenance``, no Pods (``podName`` names one that does not exist).
"""

from __future__ import annotations

import queue
import re
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.support.tekton.dag import result_references, task_graph
from tests.support.tekton.durations import format_duration
from tests.support.tekton.errors import UNSUPPORTED_REASON, TektonRejection, UnsupportedFeature
from tests.support.tekton.executor import (
    Attempt,
    AttemptResult,
    Outcome,
    RunningStep,
    SecretSource,
    StepState,
    TaskRunRef,
    now_rfc3339,
    task_params,
)
from tests.support.tekton.spec import PipelineRunSpec, PipelineSpec, parse_pipeline, parse_pipeline_run, parse_task
from tests.support.tekton.state import (
    CANCELLED_MESSAGE,
    CANCELLED_SKIP,
    FINALLY_TIMEOUT_SKIP,
    MISSING_RESULTS_SKIP,
    PARENT_SKIP,
    PIPELINE_TIMEOUT_SKIP,
    RUN_SKIPS,
    STOPPED_SKIP,
    STOPPING_SKIP,
    TASKS_TIMEOUT_SKIP,
    TIMED_OUT_MESSAGE,
    WHEN_SKIP,
    Phase,
    TaskState,
    count,
    execution_status,
)
from tests.support.tekton.status import (
    child_name,
    completion_message,
    condition,
    pipeline_run_status,
    progress_message,
    retry_record,
    task_run,
    task_run_status,
)
from tests.support.tekton.variables import references, substitute

__all__ = ["Cluster", "EngineConfig", "PipelineRunEngine"]

Obj = dict[str, Any]

DEFAULT_TASKRUN_TIMEOUT = 3600.0
"""A TaskRun without timeout gets ``default-timeout-minutes`` (60 minutes)."""

_STATUS_VARIABLE = re.compile(r"^tasks\.(?:status|[^.]+\.(?:status|reason))$")


class Cluster(Protocol):
    """What the engine needs from the API server (implemented by the controller)."""

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A stored ``tekton.dev/v1`` Pipeline or Task (or ``v1`` ServiceAccount), or None."""
        ...

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        """Write a kubeconfig authenticating as the ServiceAccount (a fresh token) at ``path``."""
        ...

    def update_pipeline_run(self, namespace: str, name: str, *, labels: Mapping[str, str]) -> None: ...

    def write_pipeline_run_status(self, namespace: str, name: str, status: Obj) -> None: ...

    def create_task_run(self, obj: Obj) -> Obj:
        """Create the TaskRun; returns it as stored (with its uid)."""
        ...

    def write_task_run_status(self, namespace: str, name: str, status: Obj) -> None: ...

    def cancel_task_run(self, namespace: str, name: str, message: str) -> None:
        """Set ``spec.status: TaskRunCancelled`` and ``spec.statusMessage``, as the PipelineRun reconciler does."""
        ...

    def step_changed(self, key: tuple[str, str], step: RunningStep | None) -> None:
        """A step process of this TaskRun started (or none runs any more)."""
        ...


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How steps run locally (see :mod:`tests.support.tekton.executor`)."""

    workdir: Path
    path: tuple[str, ...]
    """``PATH`` of every step, first entries first."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment of every step (before the step's own ``env``)."""
    entrypoints: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Image -> argv, for steps without ``command``."""
    grace: float = 2.0
    """Seconds between SIGTERM and SIGKILL when a step is stopped."""


class _Aborted(Exception):
    """The harness is shutting down or the PipelineRun was deleted: stop without writing."""


class PipelineRunEngine:
    """Runs one PipelineRun; :meth:`run` is the thread body."""

    def __init__(self, obj: Obj, cluster: Cluster, config: EngineConfig, secrets: SecretSource) -> None:
        meta = obj.get("metadata") or {}
        self.namespace = str(meta.get("namespace", "default"))
        self.name = str(meta.get("name", ""))
        self._obj = obj
        self._cluster = cluster
        self._config = config
        self._secrets = secrets
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._spec_status = str((obj.get("spec") or {}).get("status", ""))
        self._spec: PipelineRunSpec | None = None
        self._pipeline: PipelineSpec | None = None
        self._tasks: list[TaskState] = []
        self._by_name: dict[str, TaskState] = {}
        self._parents: Mapping[str, tuple[str, ...]] = {}
        self._params: dict[str, str] = {}
        self._start = 0.0
        self._start_time = ""
        self._finally_start: float | None = None
        self._finally_start_time = ""
        self._pipeline_timed_out = False
        self._tasks_timed_out = False
        self._finally_timed_out = False
        self._cancelled = False
        self._condition: Obj = {}
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self.error: BaseException | None = None
        """An :class:`UnsupportedFeature` (or a harness bug) that ended the run; the controller re-raises it."""

    # -- controller interface -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def spec_status_changed(self, status: str) -> None:
        """The PipelineRun's ``spec.status`` was written (cancel / graceful cancel / stop / un-pend)."""
        self._events.put(("spec", status))

    def abort(self) -> None:
        """Stop every step process and the engine, writing nothing more (harness teardown, deletion)."""
        self._events.put(("abort", None))

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    # -- the thread -----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except (_Aborted, LookupError):
            self._interrupt_all()
        except TektonRejection as rejection:
            self._interrupt_all()
            self._finish_with("False", rejection.reason, rejection.message)
        except UnsupportedFeature as exc:
            self.error = exc
            self._interrupt_all()
            self._finish_with("False", UNSUPPORTED_REASON, str(exc))
        except Exception as exc:  # a harness bug must reach the test, not die in a thread
            self.error = RuntimeError(f"tekton harness failed on PipelineRun {self.namespace}/{self.name}: {exc!r}")
            self.error.__cause__ = exc
            traceback.print_exc()
            self._interrupt_all()
            self._finish_with("False", "HarnessError", repr(exc))
        finally:
            for thread in self._threads:
                thread.join(timeout=30)
            self._done.set()

    def _finish_with(self, status: str, reason: str, message: str) -> None:
        try:
            self._set_condition(status, reason, message)
            self._publish(final=True)
        except (_Aborted, LookupError):
            pass

    def _run(self) -> None:
        self._spec = spec = parse_pipeline_run(self._obj)
        if self._spec_status == "PipelineRunPending":
            self._set_condition("Unknown", "PipelineRunPending", f'PipelineRun "{self.name}" is pending')
            self._publish()
        while self._spec_status == "PipelineRunPending":
            self._handle(self._events.get())
        self._start = time.monotonic()
        self._start_time = now_rfc3339()
        self._set_condition("Unknown", "Started", "")
        self._publish()
        if self._spec_status == "Cancelled":
            self._cancelled = True
            self._set_condition("False", "Cancelled", f'PipelineRun "{self.name}" was cancelled')
            self._publish(final=True)
            return
        self._resolve(spec)
        self._set_condition("Unknown", "Running", progress_message(count(self._tasks)))
        self._publish()
        while True:
            self._apply_limits()
            self._schedule()
            if all(t.done or (t.phase is Phase.PENDING and self._cancelled) for t in self._tasks):
                break
            self._set_condition("Unknown", self._running_reason(), progress_message(count(self._tasks)))
            self._publish()
            try:
                event = self._events.get(timeout=self._next_wakeup())
            except queue.Empty:
                continue
            self._handle(event)
        self._set_condition(*self._final_condition())
        self._publish(final=True)

    # -- resolution -----------------------------------------------------------------------------------

    def _resolve(self, spec: PipelineRunSpec) -> None:
        stored = self._cluster.get_object("Pipeline", self.namespace, spec.pipeline_ref)
        if stored is None:
            raise TektonRejection(
                "CouldntGetPipeline",
                f"Error retrieving pipeline for pipelinerun {self.namespace}/{self.name}: "
                f'pipelines.tekton.dev "{spec.pipeline_ref}" not found',
            )
        self._pipeline = pipeline = parse_pipeline(stored)
        self._cluster.update_pipeline_run(self.namespace, self.name, labels={"tekton.dev/pipeline": pipeline.name})
        supplied = dict(spec.params)
        missing = [p.name for p in pipeline.params if p.name not in supplied and p.default is None]
        if missing:
            raise TektonRejection(
                "ParameterMissing",
                f"PipelineRun {self.namespace}/{self.name} is missing some parameters required by Pipeline "
                f"{self.namespace}/{pipeline.name}'s parameters: pipelineRun missing parameters: [{' '.join(missing)}]",
            )
        self._params = {p.name: supplied.get(p.name, p.default or "") for p in pipeline.params}
        self._parents = task_graph(pipeline.tasks, pipeline.name)
        self._check_variables(pipeline)
        for task in (*pipeline.tasks, *pipeline.finally_):
            stored_task = self._cluster.get_object("Task", self.namespace, task.task_ref)
            if stored_task is None:
                raise TektonRejection(
                    "CouldntGetTask",
                    f"Pipeline {self.namespace}/{pipeline.name} can't be Run; it contains Tasks that don't exist: "
                    f'Couldn\'t retrieve Task "{task.task_ref}": tasks.tekton.dev "{task.task_ref}" not found',
                )
            state = TaskState(task, parse_task(stored_task))
            self._tasks.append(state)
            self._by_name[task.name] = state
        for state in self._tasks:
            for producer, result in result_references(state.task):
                owner = self._by_name.get(producer)
                if owner is None or owner.task.final:
                    raise TektonRejection(
                        "PipelineValidationFailed",
                        f"Pipeline {pipeline.name}: task {state.name} uses $(tasks.{producer}.results.{result}) "
                        f"but {producer} is not a task of spec.tasks",
                    )
                if result not in owner.spec.results:
                    raise TektonRejection(
                        "InvalidTaskResultReference",
                        f'invalid result reference in pipeline task "{state.name}": '
                        f'"{result}" is not a named result returned by pipeline task "{producer}"',
                    )

    def _check_variables(self, pipeline: PipelineSpec) -> None:
        """What the webhook checks in a Pipeline: declared params, status variables only in finally."""
        declared = {p.name for p in pipeline.params}
        for task in (*pipeline.tasks, *pipeline.finally_):
            texts = [value for _, value in task.params]
            texts += [e.input for e in task.when] + [v for e in task.when for v in e.values]
            for text in texts:
                for key in references(text):
                    where = f"Pipeline {pipeline.name} task {task.name}"
                    if key.startswith("params.") and key[len("params.") :] not in declared:
                        raise TektonRejection(
                            "PipelineValidationFailed", f"{where}: non-existent variable in {text!r}: $({key})"
                        )
                    if _STATUS_VARIABLE.match(key) and not task.final:
                        raise TektonRejection(
                            "PipelineValidationFailed",
                            f"{where}: pipeline tasks can not refer to execution status of any other pipeline task "
                            f"or aggregate status of tasks: $({key})",
                        )

    # -- events ---------------------------------------------------------------------------------------

    def _handle(self, event: tuple[str, Any]) -> None:
        kind, payload = event
        if kind == "abort":
            raise _Aborted
        if kind == "spec":
            self._on_spec_status(str(payload))
        elif kind == "done":
            state, attempt, outcome = payload
            if state.attempt is attempt:
                self._on_attempt_done(state, outcome)
        elif kind == "progress":
            state, attempt, steps = payload
            if state.attempt is attempt and state.phase is Phase.RUNNING:
                self._write_taskrun(state, steps=steps)

    def _on_spec_status(self, status: str) -> None:
        previous, self._spec_status = self._spec_status, status
        if previous == status or not self._tasks:
            return
        if status == "Cancelled":
            self._cancelled = True
            for state in self._tasks:
                if state.phase is Phase.RUNNING:
                    self._stop_taskrun(state, CANCELLED_MESSAGE)
        elif status == "CancelledRunFinally":
            for state in self._dag():
                if state.phase is Phase.RUNNING:
                    self._stop_taskrun(state, CANCELLED_MESSAGE)

    def _next_wakeup(self) -> float:
        now = time.monotonic()
        deadlines = self._limit_deadlines()
        if not deadlines:
            return 1.0
        return max(0.01, min(1.0, min(deadlines) - now))

    def _limit_deadlines(self) -> list[float]:
        assert self._spec is not None
        timeouts = self._spec.timeouts
        out = []
        if timeouts.pipeline is not None:
            out.append(self._start + timeouts.pipeline)
        if timeouts.tasks is not None and self._finally_start is None:
            out.append(self._start + timeouts.tasks)
        if timeouts.finally_ is not None and self._finally_start is not None:
            out.append(self._finally_start + timeouts.finally_)
        return out

    # -- timeouts -------------------------------------------------------------------------------------

    def _apply_limits(self) -> None:
        assert self._spec is not None
        timeouts = self._spec.timeouts
        now = time.monotonic()
        unfinished = [s for s in self._tasks if not s.done]
        if (
            not self._pipeline_timed_out
            and unfinished
            and timeouts.pipeline is not None
            and now >= self._start + timeouts.pipeline
        ):
            self._pipeline_timed_out = True
            for state in self._tasks:
                if state.phase is Phase.RUNNING:
                    self._stop_taskrun(state, TIMED_OUT_MESSAGE)
                elif state.phase is Phase.PENDING and state.task.final:
                    self._skip(state, PIPELINE_TIMEOUT_SKIP)
        if (
            not self._tasks_timed_out
            and self._finally_start is None
            and any(not s.done for s in self._dag())
            and timeouts.tasks is not None
            and now >= self._start + timeouts.tasks
        ):
            self._tasks_timed_out = True
            for state in self._dag():
                if state.phase is Phase.RUNNING:
                    self._stop_taskrun(state, TIMED_OUT_MESSAGE)
        if (
            not self._finally_timed_out
            and self._finally_start is not None
            and any(not s.done for s in self._final())
            and timeouts.finally_ is not None
            and now >= self._finally_start + timeouts.finally_
        ):
            self._finally_timed_out = True
            for state in self._final():
                if state.phase is Phase.RUNNING:
                    self._stop_taskrun(state, TIMED_OUT_MESSAGE)
                elif state.phase is Phase.PENDING:
                    self._skip(state, FINALLY_TIMEOUT_SKIP)

    # -- scheduling -----------------------------------------------------------------------------------

    def _dag(self) -> list[TaskState]:
        return [s for s in self._tasks if not s.task.final]

    def _final(self) -> list[TaskState]:
        return [s for s in self._tasks if s.task.final]

    def _stopping(self) -> bool:
        return any(s.failed for s in self._dag())

    def _schedule(self) -> None:
        if self._cancelled:
            return
        # skip() in pipelinerunresolution.go: these reasons apply to every unscheduled DAG task at once and
        # are re-evaluated on each reconcile (so "stopping" wins once a cancelled task counts as failed)
        for state in self._dag():
            if state.phase is Phase.PENDING or (state.phase is Phase.SKIPPED and state.skip_reason in RUN_SKIPS):
                reason = self._run_skip_reason()
                if reason:
                    self._skip(state, reason)
        changed = True
        while changed:
            changed = False
            for state in self._dag():
                if state.phase is not Phase.PENDING:
                    continue
                parents = [self._by_name[p] for p in self._parents[state.name]]
                if not all(p.done for p in parents):
                    continue
                skip = self._dag_skip_reason(state, parents)
                if skip:
                    self._skip(state, skip)
                    changed = True
                    continue
                if self._start_task(state):
                    changed = True
        if all(s.done for s in self._dag()) and not self._pipeline_timed_out:
            for state in self._final():
                if state.phase is Phase.PENDING:
                    if self._finally_start is None:
                        self._finally_start = time.monotonic()
                        self._finally_start_time = now_rfc3339()
                    skip = self._finally_skip_reason(state)
                    if skip:
                        self._skip(state, skip)
                    else:
                        self._start_task(state)

    def _run_skip_reason(self) -> str:
        if self._stopping():
            return STOPPING_SKIP
        if self._spec_status == "CancelledRunFinally":
            return CANCELLED_SKIP
        if self._spec_status == "StoppedRunFinally":
            return STOPPED_SKIP
        return ""

    def _dag_skip_reason(self, state: TaskState, parents: list[TaskState]) -> str:
        if any(p.phase is Phase.SKIPPED and p.skip_reason != WHEN_SKIP for p in parents):
            return PARENT_SKIP
        for producer, result in result_references(state.task):
            owner = self._by_name[producer]
            if owner.phase is Phase.SKIPPED:
                return MISSING_RESULTS_SKIP
            if result not in owner.results:
                raise TektonRejection(
                    "InvalidTaskResultReference",
                    f'Could not find result with name {result} for pipeline task "{producer}" '
                    f'(needed by pipeline task "{state.name}")',
                )
        if not self._when_true(state):
            return WHEN_SKIP
        if self._pipeline_timed_out:
            return PIPELINE_TIMEOUT_SKIP
        if self._tasks_timed_out:
            return TASKS_TIMEOUT_SKIP
        return ""

    def _finally_skip_reason(self, state: TaskState) -> str:
        for producer, result in result_references(state.task):
            owner = self._by_name[producer]
            if owner.phase is not Phase.SUCCEEDED or result not in owner.results:
                return MISSING_RESULTS_SKIP
        if not self._when_true(state):
            return WHEN_SKIP
        return ""

    def _when_true(self, state: TaskState) -> bool:
        values = self._values(state)
        resolved = []
        verdict = True
        for expression in state.task.when:
            where = f"pipeline task {state.name} when"
            text = substitute(expression.input, values, where=where, reason="PipelineValidationFailed")
            options = [substitute(v, values, where=where, reason="PipelineValidationFailed") for v in expression.values]
            resolved.append({"input": text, "operator": expression.operator, "values": options})
            holds = (text in options) == (expression.operator == "in")
            verdict = verdict and holds
        state.when = resolved
        return verdict

    def _values(self, state: TaskState) -> dict[str, str]:
        """Variables a pipeline task's params and ``when`` may use (``apply.go``)."""
        assert self._spec is not None and self._pipeline is not None
        values = {f"params.{name}": value for name, value in self._params.items()}
        values.update(
            {
                "context.pipelineRun.name": self.name,
                "context.pipelineRun.namespace": self.namespace,
                "context.pipelineRun.uid": self._spec.uid,
                "context.pipeline.name": self._pipeline.name,
                "context.pipelineTask.retries": str(state.task.retries),
            }
        )
        for other in self._dag():
            if other.phase is Phase.SUCCEEDED:
                for result, value in other.results.items():
                    values[f"tasks.{other.name}.results.{result}"] = value
        if state.task.final:
            values.update(execution_status(self._dag()))
        return values

    def _skip(self, state: TaskState, reason: str) -> None:
        state.phase = Phase.SKIPPED
        state.skip_reason = reason

    # -- TaskRuns -------------------------------------------------------------------------------------

    def _start_task(self, state: TaskState) -> bool:
        """Create the TaskRun and start its first attempt; False if it failed before starting."""
        values = self._values(state)
        where = f"pipeline task {state.name}"
        state.params = [
            (name, substitute(value, values, where=f"{where} param {name}", reason="PipelineValidationFailed"))
            for name, value in state.task.params
        ]
        state.taskrun = child_name(self.name, f"-{state.name}")
        state.phase = Phase.RUNNING
        self._create_taskrun(state)
        return self._start_attempt(state)

    def _timeout_of(self, state: TaskState) -> float:
        return DEFAULT_TASKRUN_TIMEOUT if state.task.timeout is None else state.task.timeout

    def _create_taskrun(self, state: TaskState) -> None:
        assert self._spec is not None and self._pipeline is not None
        obj = task_run(
            self._obj,
            self._pipeline.name,
            state,
            service_account=self._spec.service_account,
            timeout=self._timeout_of(state),
        )
        stored = self._cluster.create_task_run(obj)
        state.created = True
        state.uid = str((stored.get("metadata") or {}).get("uid", ""))
        state.status = {"podName": f"{state.taskrun}-pod", "startTime": now_rfc3339(), "taskSpec": dict(state.spec.raw)}

    def _start_attempt(self, state: TaskState) -> bool:
        assert self._spec is not None
        state.attempts += 1
        owner = TaskRunRef(self.namespace, self.name, state.name, state.taskrun, state.attempts)
        workdir = self._config.workdir / self.namespace / state.taskrun / f"attempt-{state.attempts}"
        try:
            params = task_params(state.spec, state.params, state.taskrun)
            kubeconfig = self._kubeconfig(state, workdir)
        except TektonRejection as rejection:
            self._fail_before_start(state, rejection.reason, rejection.message)
            return False
        env = {
            "PATH": ":".join(self._config.path),
            "HOME": str(workdir.parent / "home"),
            "LANG": "C.UTF-8",
            **self._config.env,
            "KUBECONFIG": str(kubeconfig),
        }
        (workdir.parent / "home").mkdir(parents=True, exist_ok=True)
        context = {
            "context.taskRun.name": state.taskrun,
            "context.taskRun.namespace": self.namespace,
            "context.taskRun.uid": state.uid,
            "context.task.name": state.task.task_ref,
            "context.task.retry-count": str(state.attempts - 1),
        }
        key = (self.namespace, state.taskrun)
        attempt = Attempt(
            owner=owner,
            task=state.spec,
            params=params,
            context=context,
            workdir=workdir,
            base_env=env,
            secrets=self._secrets,
            entrypoints=self._config.entrypoints,
            grace=self._config.grace,
            on_step=lambda step: self._cluster.step_changed(key, step),
            on_progress=lambda steps: self._events.put(("progress", (state, attempt, steps))),
        )
        try:
            attempt.prepare()
        except TektonRejection as rejection:
            self._fail_before_start(state, rejection.reason, rejection.message)
            return False
        state.attempt = attempt
        timeout = self._timeout_of(state)
        state.deadline = time.monotonic() + timeout if timeout else None
        state.condition = condition("Unknown", "Running", "Not all Steps in the Task have finished executing")
        self._write_taskrun(state, steps=())
        thread = threading.Thread(
            target=self._attempt_thread, args=(state, attempt), name=f"tekton-{state.taskrun}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return True

    def _kubeconfig(self, state: TaskState, workdir: Path) -> Path:
        assert self._spec is not None
        account = self._spec.service_account
        if self._cluster.get_object("ServiceAccount", self.namespace, account) is None:
            raise TektonRejection(
                "PodCreationFailed",
                f'failed to create task run pod "{state.taskrun}": pods "{state.taskrun}-pod" is forbidden: '
                f'error looking up service account {self.namespace}/{account}: serviceaccount "{account}" not found',
            )
        return self._cluster.service_account_kubeconfig(self.namespace, account, workdir.parent / "kubeconfig")

    def _attempt_thread(self, state: TaskState, attempt: Attempt) -> None:
        try:
            outcome: Any = attempt.run(state.deadline)
        except BaseException as exc:
            outcome = exc
        self._events.put(("done", (state, attempt, outcome)))

    def _fail_before_start(self, state: TaskState, reason: str, message: str) -> None:
        now = now_rfc3339()
        state.phase = Phase.FAILED
        state.condition = condition("False", reason, message)
        state.status["completionTime"] = now
        self._write_taskrun(state, steps=())

    def _stop_taskrun(self, state: TaskState, message: str) -> None:
        """Cancel a running TaskRun the way the PipelineRun reconciler does (spec.status + statusMessage)."""
        if state.stop_message:
            return
        state.stop_message = message
        self._cluster.cancel_task_run(self.namespace, state.taskrun, message)
        if state.attempt is not None:
            state.attempt.interrupt()

    def _on_attempt_done(self, state: TaskState, outcome: AttemptResult | BaseException) -> None:
        if isinstance(outcome, BaseException):
            raise outcome
        state.attempt = None
        state.deadline = None
        steps = outcome.steps
        state.results = dict(outcome.results)
        now = now_rfc3339()
        if state.stop_message or outcome.outcome is Outcome.INTERRUPTED:
            state.stop_message = state.stop_message or CANCELLED_MESSAGE
            state.phase = Phase.CANCELLED
            message = f'TaskRun "{state.taskrun}" was cancelled. {state.stop_message}'
            state.condition = condition("False", "TaskRunCancelled", message)
        elif outcome.outcome is Outcome.SUCCEEDED:
            state.phase = Phase.SUCCEEDED
            state.condition = condition("True", "Succeeded", outcome.message)
        else:
            if outcome.outcome is Outcome.TIMED_OUT:
                reason = "TaskRunTimeout"
                message = (
                    f'TaskRun "{state.taskrun}" failed to finish within "{format_duration(self._timeout_of(state))}"'
                )
            else:
                reason, message = outcome.reason, outcome.message
            state.condition = condition("False", reason, message)
            if state.attempts <= state.task.retries and not self._cancelled:
                self._retry(state, steps, outcome)
                return
            state.phase = Phase.FAILED
        state.status["completionTime"] = now
        self._write_taskrun(state, steps=steps)

    def _retry(self, state: TaskState, steps: tuple[StepState, ...], outcome: AttemptResult) -> None:
        """``retryTaskRun``: the failed attempt's status goes to ``retriesStatus``; a new attempt starts."""
        state.retries_status.append(retry_record(state, steps, outcome))
        state.results = {}
        state.condition = condition("Unknown", "ToBeRetried", state.condition["message"])
        state.status["podName"] = f"{state.taskrun}-pod-retry{len(state.retries_status)}"
        self._write_taskrun(state, steps=())
        self._start_attempt(state)

    def _write_taskrun(self, state: TaskState, *, steps: Sequence[StepState]) -> None:
        self._cluster.write_task_run_status(self.namespace, state.taskrun, task_run_status(state, steps))

    def _interrupt_all(self) -> None:
        """Stop every step process, writing nothing (the run is over for the harness)."""
        for state in self._tasks:
            if state.attempt is not None:
                state.attempt.interrupt()

    # -- status ---------------------------------------------------------------------------------------

    def _running_reason(self) -> str:
        """The reason of the ``Unknown`` condition while the run goes on."""
        c = count(self._tasks)
        if self._spec_status == "CancelledRunFinally":
            return "CancelledRunningFinally"
        if self._spec_status == "StoppedRunFinally":
            return "StoppedRunningFinally"
        if c.cancelled or (c.failed and all(s.done for s in self._final())):
            return "PipelineRunStopping"
        return "Running"

    def _final_condition(self) -> tuple[str, str, str]:
        """``GetPipelineConditionStatus`` once nothing runs any more."""
        assert self._spec is not None
        if self._pipeline_timed_out:
            return (
                "False",
                "PipelineRunTimeout",
                f'PipelineRun "{self.name}" failed to finish within "{self._spec.timeouts.pipeline_text}"',
            )
        if self._tasks_timed_out:
            within = self._spec.timeouts.tasks_text
            return (
                "False",
                "PipelineRunTimeout",
                f'PipelineRun "{self.name}" failed due to tasks failed to finish within "{within}"',
            )
        if self._cancelled:
            return "False", "Cancelled", f'PipelineRun "{self.name}" was cancelled'
        c = count(self._tasks)
        message = completion_message(c)
        if c.failed or c.timeout_skipped:
            return "False", "Failed", message
        if self._spec_status in ("CancelledRunFinally", "StoppedRunFinally"):
            return "False", "Cancelled", f'PipelineRun "{self.name}" was cancelled'
        if c.cancelled:
            return "False", "Cancelled", message
        if c.skipped:
            return "True", "Completed", message
        return "True", "Succeeded", message

    def _set_condition(self, status: str, reason: str, message: str) -> None:
        old = self._condition
        if (old.get("status"), old.get("reason"), old.get("message")) == (status, reason, message):
            return
        self._condition = {**condition(status, reason, message), "lastTransitionTime": now_rfc3339()}

    def _publish(self, *, final: bool = False) -> None:
        status = pipeline_run_status(
            condition=self._condition,
            start_time=self._start_time,
            completion_time=now_rfc3339() if final else "",
            finally_start_time=self._finally_start_time,
            pipeline=self._pipeline,
            tasks=self._tasks,
        )
        self._cluster.write_pipeline_run_status(self.namespace, self.name, status)

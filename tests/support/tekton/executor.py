"""One attempt of a TaskRun: its steps run one after another as local processes, as a Pod would run them.

What a step container gets on a cluster, and what it gets here instead (each substitution is explicit):

* **argv**: ``command`` + ``args`` after variable substitution. A step without ``command`` would run its
  image's entrypoint; the harness cannot, unless the test declared that entrypoint (``entrypoints``
  maps an image to argv), and otherwise refuses with :class:`UnsupportedFeature`. A bare program name is
  looked up on the step's ``PATH``, whose first entry is the ``bin`` folder of the test's Python
  environment (so ``progressive`` is the console script of this checkout, and ``python3`` this venv).
* **environment**: only ``PATH``, ``HOME`` (an empty folder per TaskRun), ``LANG``, the harness' extra
  variables (``KUBECONFIG`` for the TaskRun's ServiceAccount, see the controller) and the step's ``env``
  (``value`` after substitution, or ``valueFrom.secretKeyRef`` read from the API server). Nothing else
  leaks in from the test process.
* **volumes**: Secret volumes are materialised into ``<attempt>/volumes/<volume>/<key>`` from the Secret
  stored in the API server (``items`` honoured). The step cannot see them at their ``mountPath``, so
  every occurrence of a mount path as a path prefix in argv elements and ``env`` values is rewritten to
  the local folder: ``--token-file=/etc/x/token`` becomes ``--token-file=<attempt>/volumes/x/token``.
  A missing Secret that is not ``optional`` fails the TaskRun at once with reason ``FailedMount`` (on a
  cluster the Pod would wait in ``ContainerCreating`` until the TaskRun times out).
* **results**: ``$(results.R.path)`` is ``<attempt>/results/R``. After each step the termination message
  Tekton would write (every declared result present, plus its ``StartedAt`` entry, as compact JSON) must
  fit 4096 bytes, or the step fails like Tekton's entrypoint does.
* **exit codes**: a process killed by signal N reports ``128 + N`` (137 for SIGKILL), as a container does.
* **stopping**: cancellation and timeouts send SIGTERM to the step's process group, then SIGKILL after a
  grace period, as Pod deletion does.
* **logs**: stdout and stderr of each step go to ``<attempt>/logs/step-<name>.log`` (what ``kubectl
  logs`` would show, both streams interleaved).
"""

from __future__ import annotations

import base64
import enum
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tests.support.tekton.errors import TektonRejection, UnsupportedFeature
from tests.support.tekton.spec import SecretVolume, StepSpec, TaskSpec
from tests.support.tekton.variables import substitute

__all__ = [
    "MAX_TERMINATION_MESSAGE",
    "Attempt",
    "AttemptResult",
    "Outcome",
    "RunningStep",
    "SecretSource",
    "StepState",
    "TaskRunRef",
    "decode_secret",
    "now_rfc3339",
    "task_params",
]

MAX_TERMINATION_MESSAGE = 4096
"""Kubernetes' limit on a container termination message, which carries Tekton's results."""

TOO_LARGE = "Termination message is above max allowed size 4096, caused by large task result."
"""The entrypoint's error (``pkg/termination``) when results do not fit."""


def now_rfc3339() -> str:
    """Kubernetes' timestamp format: RFC 3339, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SecretSource(Protocol):
    """Reads a Secret's keys (decoded), or None when it does not exist -- the kubelet's view."""

    def read_secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None: ...


def task_params(task: TaskSpec, given: Sequence[tuple[str, str]], taskrun: str) -> dict[str, str]:
    """The Task's params with values: given ones, else defaults; extra ones are ignored, as Tekton does.

    A required param without a value fails the TaskRun as ``validate_taskrun.go`` does.
    """
    supplied = dict(given)
    values: dict[str, str] = {}
    missing: list[str] = []
    for param in task.params:
        if param.name in supplied:
            values[param.name] = supplied[param.name]
        elif param.default is not None:
            values[param.name] = param.default
        else:
            missing.append(param.name)
    if missing:
        raise TektonRejection(
            "TaskRunValidationFailed",
            f"invalid input params for task {task.name}: missing parameters: [{' '.join(missing)}] (TaskRun {taskrun})",
        )
    return values


@dataclass(frozen=True, slots=True)
class StepState:
    """A step's container state as ``TaskRun.status.steps[]`` reports it."""

    name: str
    image: str
    started_at: str
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""

    def as_status(self) -> dict[str, Any]:
        state: dict[str, Any] = {"name": self.name, "container": f"step-{self.name}", "imageID": self.image}
        if self.finished_at is None:
            state["running"] = {"startedAt": self.started_at}
        else:
            terminated: dict[str, Any] = {
                "exitCode": self.exit_code,
                "reason": self.reason,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
            }
            if self.message:
                terminated["message"] = self.message
            state["terminated"] = terminated
        return state


@dataclass(frozen=True, slots=True)
class RunningStep:
    """A step process while it runs: what a test needs to interfere with it (e.g. SIGKILL ``pid``)."""

    namespace: str
    pipeline_run: str
    pipeline_task: str
    task_run: str
    step: str
    attempt: int
    pid: int
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    log: Path


class Outcome(enum.Enum):
    """How an attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed-out"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt produced."""

    outcome: Outcome
    reason: str
    """For ``FAILED``: Tekton's reason (``Failed``, ``FailedMount``, ``CreateContainerConfigError``...)."""
    message: str
    results: tuple[tuple[str, str], ...]
    steps: tuple[StepState, ...]
    started_at: str
    finished_at: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    argv: tuple[str, ...]
    env: dict[str, str]


@dataclass(frozen=True, slots=True)
class TaskRunRef:
    """Which TaskRun attempt a process belongs to (for :class:`RunningStep`)."""

    namespace: str
    pipeline_run: str
    pipeline_task: str
    task_run: str
    attempt: int


class Attempt:
    """One attempt of one TaskRun: :meth:`prepare` (synchronous), then :meth:`run` (may block for long).

    :meth:`prepare` raises :class:`TektonRejection` (e.g. a missing required param, an undeclared
    variable) and :class:`UnsupportedFeature`; a Pod-level failure (missing Secret) is kept and reported
    by :meth:`run` as a failed attempt. :meth:`interrupt` stops :meth:`run` from another thread.
    """

    def __init__(
        self,
        *,
        owner: TaskRunRef,
        task: TaskSpec,
        params: Mapping[str, str],
        context: Mapping[str, str],
        workdir: Path,
        base_env: Mapping[str, str],
        secrets: SecretSource,
        entrypoints: Mapping[str, Sequence[str]],
        grace: float,
        on_step: Callable[[RunningStep | None], None],
        on_progress: Callable[[tuple[StepState, ...]], None],
    ) -> None:
        self.owner = owner
        self.task = task
        self.params = dict(params)
        self.context = dict(context)
        self.namespace = owner.namespace
        self.workdir = workdir
        self.base_env = dict(base_env)
        self.secrets = secrets
        self.entrypoints = {image: tuple(argv) for image, argv in entrypoints.items()}
        self.grace = grace
        self._on_step = on_step
        self._on_progress = on_progress
        self._interrupted = threading.Event()
        self._prepared: list[_Prepared] = []
        self._pod_failure: _PodFailure | None = None

    def interrupt(self) -> None:
        """Stop the running step (SIGTERM, then SIGKILL after the grace period) and run no further step."""
        self._interrupted.set()

    @property
    def results_dir(self) -> Path:
        return self.workdir / "results"

    def prepare(self) -> None:
        """Create the attempt's folders, materialise its Secrets and resolve every step's argv and env."""
        for folder in ("results", "volumes", "logs", "workspace"):
            (self.workdir / folder).mkdir(parents=True, exist_ok=True)
        try:
            mounts = self._materialise_volumes()
            self._prepared = [self._prepare(step, mounts) for step in self.task.steps]
        except _PodFailure as failure:
            self._pod_failure = failure

    # -- running ------------------------------------------------------------------------------------

    def run(self, deadline: float | None) -> AttemptResult:
        """Run the steps until one fails, the monotonic ``deadline`` passes or :meth:`interrupt` is called."""
        started = now_rfc3339()
        states: list[StepState] = []

        def result(outcome: Outcome, reason: str = "", message: str = "") -> AttemptResult:
            return AttemptResult(outcome, reason, message, self._results(), tuple(states), started, now_rfc3339())

        if self._pod_failure is not None:
            return result(Outcome.FAILED, self._pod_failure.reason, self._pod_failure.message)
        for step, ready in zip(self.task.steps, self._prepared, strict=True):
            if self._interrupted.is_set():
                return result(Outcome.INTERRUPTED)
            state = StepState(step.name, step.image, now_rfc3339())
            states.append(state)
            self._on_progress(tuple(states))
            ending = self._run_step(step, ready, deadline)
            state = replace(state, finished_at=now_rfc3339(), exit_code=ending.code, reason=ending.reason)
            if ending.stopped is None and ending.code == 0:
                problem = self._termination_message_problem(state.started_at)
                if problem:
                    state = replace(state, exit_code=1, reason="Error", message=problem)
            states[-1] = state
            self._on_progress(tuple(states))
            if ending.stopped is not None:
                return result(ending.stopped)
            if state.exit_code != 0:
                message = f'"step-{step.name}" exited with code {state.exit_code}'
                if state.message:
                    message += f": {state.message}"
                return result(Outcome.FAILED, "Failed", message)
        return result(Outcome.SUCCEEDED, "Succeeded", "All Steps have completed executing")

    def _run_step(self, step: StepSpec, ready: _Prepared, deadline: float | None) -> _Ending:
        log = self.workdir / "logs" / f"step-{step.name}.log"
        executable = ready.argv[0]
        if os.sep not in executable:
            found = shutil.which(executable, path=ready.env.get("PATH", ""))
            if found is None:
                log.write_text(f'exec: "{executable}": executable file not found in $PATH\n', encoding="utf-8")
                return _Ending(None, 128, "StartError")
            executable = found
        with log.open("ab") as sink:
            try:
                process = subprocess.Popen(
                    [executable, *ready.argv[1:]],
                    env=ready.env,
                    cwd=self.workdir / "workspace",
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                sink.write(f"{exc}\n".encode())
                return _Ending(None, 128, "StartError")
        o = self.owner
        self._on_step(
            RunningStep(
                o.namespace,
                o.pipeline_run,
                o.pipeline_task,
                o.task_run,
                step.name,
                o.attempt,
                process.pid,
                ready.argv,
                ready.env,
                log,
            )
        )
        try:
            while True:
                try:
                    code = process.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self._interrupted.is_set():
                    self._stop(process)
                    return _Ending(Outcome.INTERRUPTED, _exit_code(process.wait()), "Error")
                if deadline is not None and time.monotonic() >= deadline:
                    self._stop(process)
                    return _Ending(Outcome.TIMED_OUT, _exit_code(process.wait()), "Error")
        finally:
            self._on_step(None)
        code = _exit_code(code)
        return _Ending(None, code, "Completed" if code == 0 else "Error")

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM to the process group, SIGKILL after the grace period (Pod deletion)."""
        for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- preparing ----------------------------------------------------------------------------------

    def _values(self) -> dict[str, str]:
        values = {f"params.{name}": value for name, value in self.params.items()}
        values.update({f"results.{name}.path": str(self.results_dir / name) for name in self.task.results})
        values.update(self.context)
        return values

    def _materialise_volumes(self) -> dict[str, Path]:
        """Secret volumes -> local folders; returns volume name -> folder."""
        folders: dict[str, Path] = {}
        values = self._values()
        for volume in self.task.volumes:
            where = f"Task {self.task.name} volume {volume.name}"
            secret_name = substitute(volume.secret_name, values, where=where, reason="TaskRunValidationFailed")
            folder = self.workdir / "volumes" / volume.name
            folder.mkdir(parents=True, exist_ok=True)
            folders[volume.name] = folder
            self._write_secret(volume, secret_name, folder)
        return folders

    def _write_secret(self, volume: SecretVolume, secret_name: str, folder: Path) -> None:
        data = self.secrets.read_secret(self.namespace, secret_name)
        if data is None:
            if volume.optional:
                return
            raise _PodFailure(
                "FailedMount", f'MountVolume.SetUp failed for volume "{volume.name}" : secret "{secret_name}" not found'
            )
        wanted = volume.items or tuple((key, key) for key in sorted(data))
        for key, relative in wanted:
            if key not in data:
                if volume.optional:
                    continue
                raise _PodFailure(
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{volume.name}" : '
                    f"couldn't find key {key} in Secret {self.namespace}/{secret_name}",
                )
            target = (folder / relative).resolve()
            if folder.resolve() not in target.parents:
                raise _PodFailure("FailedMount", f"volume {volume.name}: item path {relative!r} leaves the volume")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])

    def _prepare(self, step: StepSpec, mounts: Mapping[str, Path]) -> _Prepared:
        where = f"Task {self.task.name} step {step.name}"
        values = self._values()

        def sub(text: str, field: str) -> str:
            return substitute(text, values, where=f"{where} {field}", reason="TaskRunValidationFailed")

        command = [sub(word, "command") for word in step.command]
        if not command:
            if step.image not in self.entrypoints:
                raise UnsupportedFeature(
                    where,
                    "a step without command (the image's entrypoint)",
                    f"declare the entrypoint of image {step.image!r} to the harness to run it",
                )
            command = list(self.entrypoints[step.image])
        argv = [*command, *(sub(word, "args") for word in step.args)]
        env = dict(self.base_env)
        for var in step.env:
            if var.secret is not None:
                data = self.secrets.read_secret(self.namespace, var.secret.name)
                if data is None or var.secret.key not in data:
                    if var.secret.optional:
                        continue
                    what = (
                        f'secret "{var.secret.name}" not found'
                        if data is None
                        else f"couldn't find key {var.secret.key} in Secret {self.namespace}/{var.secret.name}"
                    )
                    raise _PodFailure("CreateContainerConfigError", f"step {step.name}: {what}")
                env[var.name] = data[var.secret.key].decode("utf-8", errors="replace")
            else:
                env[var.name] = sub(var.value or "", f"env {var.name}")
        rewrite = [(mount.mount_path, mounts[mount.name]) for mount in step.mounts]
        argv = [_rewrite_paths(word, rewrite) for word in argv]
        env = {name: _rewrite_paths(value, rewrite) if name != "PATH" else value for name, value in env.items()}
        return _Prepared(tuple(argv), env)

    # -- results ------------------------------------------------------------------------------------

    def _results(self) -> tuple[tuple[str, str], ...]:
        out = []
        for name in self.task.results:
            path = self.results_dir / name
            if path.is_file():
                out.append((name, path.read_text(encoding="utf-8", errors="replace")))
        return tuple(out)

    def _termination_message_problem(self, started_at: str) -> str:
        entries: list[dict[str, Any]] = [{"key": name, "value": value, "type": 1} for name, value in self._results()]
        entries.append({"key": "StartedAt", "value": started_at.replace("Z", ".000Z"), "type": 3})
        size = len(json.dumps(entries, separators=(",", ":")).encode())
        return TOO_LARGE if size > MAX_TERMINATION_MESSAGE else ""


@dataclass(frozen=True, slots=True)
class _Ending:
    stopped: Outcome | None
    """``INTERRUPTED`` or ``TIMED_OUT`` when the harness stopped the process; None when it ended by itself."""
    code: int
    reason: str


class _PodFailure(Exception):
    """The Pod could not start the steps (a missing Secret): the TaskRun fails with ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _exit_code(code: int) -> int:
    return 128 - code if code < 0 else code


def _rewrite_paths(text: str, mounts: Sequence[tuple[str, Path]]) -> str:
    """Replace each mount path used as a path prefix by its local folder."""
    for mount_path, folder in mounts:
        pattern = re.compile(r"(?<![\w./-])" + re.escape(mount_path.rstrip("/")) + r"(?=/|$)")
        local = str(folder)
        text = pattern.sub(lambda _match, local=local: local, text)  # type: ignore[misc]
    return text


def decode_secret(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A stored Secret's keys: ``data`` (base64) and, for seeded objects, ``stringData``."""
    out = {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
    out.update({key: str(value).encode() for key, value in (obj.get("stringData") or {}).items()})
    return out

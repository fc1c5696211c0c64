"""Run a rollout's stages on this machine with Tekton's semantics: the engine behind ``progressive run``.

The stages are the compiler's own :class:`~progressive.compile.StageInvocation` list, so a local run and
the Pipeline run the same step command lines. Each stage is a child process, ``progressive step
<command> --flag=value ...`` with the Python running this (a hook: its ``command`` + ``args``, with its
``env``), in a session of its own so that a Ctrl-C on the terminal reaches only ``progressive run``,
which decides what happens to the child. What Tekton does, and what happens here:

=========================================  ===========================================================
Tekton                                     here
=========================================  ===========================================================
tasks in ``runAfter`` order                stages in order, one at a time
a failed task stops the DAG                the first failed stage stops the run
pipeline task ``timeout``                  the child gets SIGINT, then SIGKILL 10 s later (TimedOut)
``timeouts.tasks``                         the stages share that budget; a stage gets what is left
``finally`` (parallel)                     in order: rollback (unless promoted), report, the rest;
                                           the report, which in Tekton waits for the rollback running
                                           beside it, gets ``--rollback-wait=0s``: it has ended
``when: $(tasks.promote.status)            rollback runs unless the promote stage succeeded: a stage
notin [Succeeded]``                        failed, timed out or was interrupted, at any moment
cancel with ``CancelledRunFinally``        first Ctrl-C (or SIGTERM): the running stage gets SIGINT,
                                           then ``finally`` runs; later ones only say that the
                                           rollback is still running
results files                              ``--result-<name>`` files in a private temp folder
=========================================  ===========================================================

A stage's exit code is the step's (``progressive.contract.ExitCode``); a timeout counts as 6 (deadline)
and an interruption as 130.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, MappingProxyType
from typing import Any

from progressive.commands._progress import ProgressView, time_limit
from progressive.compile import StageInvocation
from progressive.contract import COMMANDS, ExitCode
from progressive.duration import format_duration

__all__ = ["EXIT_INTERRUPTED", "GRACE", "LocalRun", "Outcome", "Signals", "StageRun"]

GRACE = 10.0
"""Seconds a child has between SIGINT and SIGKILL (Tekton's pods get a grace period the same way)."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what shells report for a command stopped with Ctrl-C."""
_TICK = 0.25


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one stage ended."""

    stage: str
    kind: str
    code: int
    """Exit code (0: done; see the module docstring for timeouts and interruptions)."""
    reason: str
    """``Succeeded``, ``Failed``, ``TimedOut``, ``Interrupted`` or ``Skipped``."""
    error: str = ""
    """One line: what went wrong, in the step's words when it said so."""
    results: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The stage did its job (or was skipped, which is fine for a ``finally`` task)."""
        return self.reason in {"Succeeded", "Skipped"}


class Signals:
    """SIGINT and SIGTERM while a run is in progress: counted (and reported), never raised as exceptions."""

    def __init__(self) -> None:
        self.count = 0
        self.on_signal: Callable[[int], None] = lambda _count: None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self.count += 1
        self.on_signal(self.count)

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


@dataclass(frozen=True, slots=True)
class StageRun:
    """What a child process did."""

    code: int
    stopped: str
    """``""``, ``TimedOut`` or ``Interrupted``: why it was stopped, if it was."""
    lines: tuple[str, ...]
    stderr: str


def _pump(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line.rstrip("\n"))
    sink.put(None)


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    """Signal the child's whole process group (a hook may have children of its own)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float,
    progress: ProgressView,
    signals: Signals | None,
    clock: Callable[[], float] = time.monotonic,
) -> StageRun:
    """Run one child to its end, showing its output; stop it on timeout or (when ``signals``) on Ctrl-C."""
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    errors: list[str] = []
    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    deadline = clock() + timeout
    seen: list[str] = []
    stopped = ""
    kill_at: float | None = None
    ended = False
    while not (ended and process.poll() is not None):
        try:
            line = lines.get(timeout=_TICK)
        except queue.Empty:
            pass
        else:
            if line is None:
                ended = True
            else:
                seen.append(line)
                progress.output(line)
        progress.tick()
        now = clock()
        if not stopped:
            if signals is not None and signals.count:
                stopped = "Interrupted"
            elif now >= deadline:
                stopped = "TimedOut"
            if stopped:
                _signal_group(process, signal.SIGINT)
                kill_at = now + GRACE
        elif kill_at is not None and now >= kill_at:
            _signal_group(process, signal.SIGKILL)
            kill_at = None
    for reader in readers:
        reader.join(timeout=5)
    return StageRun(process.returncode, stopped, tuple(seen), "".join(errors))


def _error_line(child: StageRun) -> str:
    """The step's own error message, else the last line of stderr, else the exit code."""
    import json  # noqa: PLC0415

    for line in reversed(child.lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "error" in record and "exit" in record:
            return str(record["error"])
    tail = [line for line in child.stderr.splitlines() if line.strip()]
    if tail:
        return tail[-1].strip()
    return f"exited with code {child.code}"


@dataclass
class LocalRun:
    """One local run of a rollout: its stages, then ``finally``; see the module docstring."""

    invocations: Sequence[StageInvocation]
    """Resolved invocations, except ``$(tasks.status)`` (known only once the stages are done)."""
    env: Mapping[str, str]
    workdir: Path
    progress: ProgressView
    signals: Signals
    tasks_budget: float
    finally_budget: float
    clock: Callable[[], float] = time.monotonic
    python: str = sys.executable
    stages: list[Outcome] = field(default_factory=list)
    final: list[Outcome] = field(default_factory=list)
    _in_finally: bool = False
    _current: str = ""
    _current_kind: str = ""
    _current_since: float = 0.0

    @property
    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM arrived during the run."""
        return self.signals.count > 0

    @property
    def failed_stage(self) -> Outcome | None:
        """The stage that stopped the run, if one did."""
        return next((outcome for outcome in self.stages if not outcome.ok), None)

    @property
    def rollback(self) -> Outcome | None:
        """The rollback's outcome, when it ran."""
        return next((outcome for outcome in self.final if outcome.kind == "rollback"), None)

    def _on_signal(self, count: int) -> None:
        spent = format_duration(self.clock() - self._current_since)
        if self._in_finally and self._current_kind == "rollback":
            self.progress.line(
                f"still rolling back ({self._current}, {spent} so far): traffic is on its way back to stable; "
                "wait for it to finish (killing this process now may leave traffic half-shifted)"
            )
        elif self._in_finally:
            done = "the rollback is done" if self.rollback is not None else "nothing to roll back"
            self.progress.line(f"{done}; finishing {self._current or 'finally'} ({spent} so far), then exiting")
        elif count == 1:
            self.progress.line(f"interrupted: stopping {self._current or 'the run'}, then rolling back")
        else:
            self.progress.line(f"still stopping {self._current or 'the run'}; the rollback runs next")

    def execute(self) -> None:
        """Run the stages until one fails (or all pass), then ``finally``."""
        self.signals.on_signal = self._on_signal
        stages = [invocation for invocation in self.invocations if not invocation.final]
        finals = [invocation for invocation in self.invocations if invocation.final]
        ends = self.clock() + self.tasks_budget
        for index, invocation in enumerate(stages, start=1):
            if self.interrupted:
                break
            left = ends - self.clock()
            outcome = self._stage(invocation, f"[{index}/{len(stages)}]", min(invocation.stage.budget, left))
            if outcome.reason == "TimedOut" and left < invocation.stage.budget:
                used_up = f"the stages used up timeouts.tasks ({format_duration(self.tasks_budget)})"
                outcome = dataclasses.replace(outcome, error=used_up)
            self.stages.append(outcome)
            if not outcome.ok:
                break
        failed = self.interrupted or any(not outcome.ok for outcome in self.stages)
        status = "Failed" if failed else "Succeeded"
        self._in_finally = True
        ends = self.clock() + self.finally_budget
        for invocation in finals:
            guard = invocation.unless_succeeded
            if guard is not None and any(outcome.stage == guard and outcome.ok for outcome in self.stages):
                self.final.append(Outcome(invocation.name, invocation.stage.kind, 0, "Skipped", f"{guard} succeeded"))
                self.progress.line(f"[fin] {invocation.name:<18} skipped: {guard} succeeded")
                continue
            resolved = invocation.resolve({"tasks.status": status})
            if invocation.stage.kind == "report":
                # Tekton runs finally tasks side by side, so the report waits for the rollback; here the
                # rollback has already ended when the report starts: nothing to wait for.
                resolved = dataclasses.replace(
                    resolved, flags=MappingProxyType({**resolved.flags, "rollback-wait": "0s"})
                )
            budget = min(invocation.stage.budget, max(0.0, ends - self.clock()))
            self.final.append(self._stage(resolved, "[fin]", budget, interruptible=False))

    def _stage(self, invocation: StageInvocation, label: str, timeout: float, *, interruptible: bool = True) -> Outcome:
        kind = invocation.stage.kind
        self._current, self._current_kind, self._current_since = invocation.name, kind, self.clock()
        limit = time_limit(kind, invocation.flags, timeout)
        note = ""
        if kind == "approve":
            rollout, namespace = invocation.flags.get("rollout", ""), invocation.flags.get("namespace", "")
            note = f"; approve with: progressive approve {rollout} -n {namespace} (or abort)"
        self.progress.stage_started(label, invocation.name, invocation.stage.weight, limit, note)
        argv, env, result_files = self._command(invocation)
        child = run_child(
            argv,
            env,
            timeout=timeout,
            progress=self.progress,
            signals=self.signals if interruptible else None,
            clock=self.clock,
        )
        seconds = self.clock() - self._current_since
        results = {
            name: path.read_text(encoding="utf-8").strip() for name, path in result_files.items() if path.is_file()
        }
        if child.stopped == "TimedOut":
            outcome = Outcome(
                invocation.name,
                kind,
                int(ExitCode.DEADLINE),
                "TimedOut",
                f"did not finish within its timeout {format_duration(timeout)}",
                results,
                seconds,
            )
        elif child.stopped == "Interrupted":
            outcome = Outcome(invocation.name, kind, EXIT_INTERRUPTED, "Interrupted", "interrupted", results, seconds)
        elif child.code == 0:
            outcome = Outcome(invocation.name, kind, 0, "Succeeded", "", results, seconds)
        else:
            code = child.code if child.code > 0 else 128 - child.code
            outcome = Outcome(invocation.name, kind, code, "Failed", _error_line(child), results, seconds)
        took = format_duration(seconds)
        if outcome.ok:
            shown = "  ".join(f"{key}={value}" for key, value in results.items() if key != "summary")
            self.progress.stage_finished(f"done in {took}" + (f"  {shown}" if shown else ""))
        else:
            self.progress.stage_finished(
                f"{outcome.reason.upper()} after {took} (exit {outcome.code}): {outcome.error}"
            )
        self._current = self._current_kind = ""
        return outcome

    def _command(self, invocation: StageInvocation) -> tuple[list[str], dict[str, str], dict[str, Path]]:
        """argv, environment and result files of one stage."""
        env = dict(self.env)
        if invocation.command is None:
            hook = invocation.hook
            assert hook is not None  # a stage without a step command is a hook (checked before the run)
            env.update(invocation.task_params)
            return [*hook.command, *hook.args], env, {}
        folder = self.workdir / "results" / invocation.name
        folder.mkdir(parents=True, exist_ok=True)
        files = {result.name: folder / result.name for result in COMMANDS[invocation.command].results}
        argv = [self.python, "-m", "progressive.cli", *invocation.argv()[1:]]
        argv += [f"--result-{name}={path}" for name, path in files.items()]
        return argv, env, files

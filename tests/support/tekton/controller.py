"""The harness as the Tekton controller of the in-repo API server.

:class:`TektonController` subscribes to PipelineRun writes (``kube.controllers.on_write``): a new
PipelineRun without a status gets a :class:`~tests.support.tekton.engine.PipelineRunEngine` on its own
thread; a change of ``spec.status`` (cancel, graceful cancel, stop, un-pend) is passed to the running
engine; a deletion stops it. The engine reads Pipelines, Tasks, ServiceAccounts and Secrets from the
store and writes back what Tekton writes: the PipelineRun's ``tekton.dev/pipeline`` label and status,
TaskRuns (labels, owner reference, spec, status, ``spec.status: TaskRunCancelled``). Those writes go to
the store directly, as a controller's would, and reach watchers (``kubectl get -w``, ``progressive start
--follow``) like any other write.

Steps authenticate as the run's ServiceAccount (``taskRunTemplate.serviceAccountName``, else
``default``): each TaskRun gets a kubeconfig with a fresh token for it, standing in for the token a Pod
mounts. With ``kube.enable_rbac()`` the steps are therefore held to the Roles bound to that account.

Tests use :meth:`TektonController.wait` (until a PipelineRun is done, re-raising a harness error),
:meth:`TektonController.running_step` (a step process, e.g. to SIGKILL it) and
:meth:`TektonController.logs`.
"""

from __future__ import annotations

import copy
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.kubeapi import ApiError, Kube
from tests.support.kubeapi.kubeconfig import write_kubeconfig
from tests.support.kubeapi.store import WriteEvent
from tests.support.tekton.engine import EngineConfig, PipelineRunEngine
from tests.support.tekton.errors import HarnessError
from tests.support.tekton.executor import RunningStep, decode_secret
from tests.support.tekton.status import child_name

__all__ = ["TektonController"]

Obj = dict[str, Any]
TEKTON = "tekton.dev/v1"


def _venv_bin() -> str:
    """The ``bin`` folder of the Python running the tests (``progressive`` and ``python3`` live there)."""
    return str(Path(sys.executable).parent)


class TektonController:
    """Runs the PipelineRuns created in one :class:`Kube` (see the module docstring)."""

    def __init__(
        self,
        kube: Kube,
        workdir: Path,
        *,
        path: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        entrypoints: Mapping[str, Sequence[str]] | None = None,
        grace: float = 2.0,
    ) -> None:
        system_path = ["/usr/local/bin", "/usr/bin", "/bin"]
        self.kube = kube
        self.config = EngineConfig(
            workdir=workdir,
            path=(*path, _venv_bin(), *system_path),
            env=dict(env or {}),
            entrypoints=dict(entrypoints or {}),
            grace=grace,
        )
        self._lock = threading.Condition()
        self._engines: dict[tuple[str, str], PipelineRunEngine] = {}
        self._threads: list[threading.Thread] = []
        self._steps: dict[tuple[str, str], RunningStep] = {}
        self._seen_steps: list[RunningStep] = []
        self._reported: set[int] = set()
        self._started = False

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> TektonController:
        """Subscribe to PipelineRun writes and pick up PipelineRuns that already wait."""
        self.kube.controllers.on_write("tekton.dev", "PipelineRun", self._on_event)
        self._started = True
        for obj in self.kube.list(TEKTON, "PipelineRun"):
            self._maybe_start(obj)
        return self

    def stop(self) -> None:
        """Stop every engine and step process; then raise the first harness error no test collected."""
        with self._lock:
            engines = list(self._engines.values())
        for engine in engines:
            engine.abort()
        for thread in self._threads:
            thread.join(timeout=60)
        self.raise_errors()

    # -- the hook -------------------------------------------------------------------------------------

    def _on_event(self, event: WriteEvent) -> None:
        if event.subresource:
            return
        meta = event.object.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        with self._lock:
            engine = self._engines.get(key)
        if event.type == "DELETED":
            if engine is not None:
                engine.abort()
            return
        if engine is None:
            self._maybe_start(event.object)
            return
        new_status = (event.object.get("spec") or {}).get("status", "")
        old_status = ((event.old or {}).get("spec") or {}).get("status", "")
        if new_status != old_status:
            engine.spec_status_changed(str(new_status))

    def _maybe_start(self, obj: Obj) -> None:
        status = obj.get("status") or {}
        if status.get("startTime") or status.get("conditions"):
            return  # someone else's (or a seeded, finished) run
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        with self._lock:
            if key in self._engines:
                return
            engine = PipelineRunEngine(copy.deepcopy(obj), _StoreCluster(self), self.config, _Secrets(self.kube))
            self._engines[key] = engine
            thread = threading.Thread(target=engine.run, name=f"tekton-pr-{key[1]}", daemon=True)
            self._threads.append(thread)
        thread.start()

    # -- for tests ------------------------------------------------------------------------------------

    def wait(self, name: str, namespace: str = "default", *, timeout: float = 120.0) -> Obj:
        """Wait until the PipelineRun is done; return it as stored. Re-raises a harness error of the run."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                engine = self._engines.get((namespace, name))
            if engine is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the harness never picked up PipelineRun {namespace}/{name}")
            time.sleep(0.02)
        if not engine.wait(max(0.0, deadline - time.monotonic())):
            current = self.kube.raw(TEKTON, "PipelineRun", name, namespace) or {}
            condition = ((current.get("status") or {}).get("conditions") or [{}])[0]
            raise TimeoutError(
                f"PipelineRun {namespace}/{name} still running after {timeout}s: {condition.get('reason')} "
                f"{condition.get('message')}"
            )
        if engine.error is not None:
            self._reported.add(id(engine.error))
            raise engine.error
        obj = self.kube.raw(TEKTON, "PipelineRun", name, namespace)
        if obj is None:
            raise LookupError(f"PipelineRun {namespace}/{name} was deleted")
        return obj

    def raise_errors(self) -> None:
        """Raise the first harness error (unsupported feature, harness bug) no test has collected yet."""
        with self._lock:
            engines = list(self._engines.values())
        for engine in engines:
            if engine.error is not None and id(engine.error) not in self._reported:
                self._reported.add(id(engine.error))
                raise HarnessError(f"PipelineRun {engine.namespace}/{engine.name}: {engine.error}") from engine.error

    def running_step(
        self, namespace: str, pipeline_task: str, *, pipeline_run: str = "", attempt: int = 0, timeout: float = 60.0
    ) -> RunningStep:
        """Wait until a step process of ``pipeline_task`` runs (of ``attempt`` if given); return it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for step in self._steps.values():
                    if (
                        step.namespace == namespace
                        and step.pipeline_task == pipeline_task
                        and (not pipeline_run or step.pipeline_run == pipeline_run)
                        and (not attempt or step.attempt == attempt)
                    ):
                        return step
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no step of pipeline task {pipeline_task} in {namespace} ran within {timeout}s")
                self._lock.wait(min(remaining, 0.1))

    def logs(self, namespace: str, pipeline_run: str, pipeline_task: str) -> str:
        """Every attempt's step logs of one pipeline task, with headers (``tkn pr logs``, roughly)."""
        folder = self.config.workdir / namespace / child_name(pipeline_run, f"-{pipeline_task}")
        out = []
        for attempt in sorted(folder.glob("attempt-*")):
            for log in sorted((attempt / "logs").glob("*.log")):
                out.append(f"[{pipeline_task} {attempt.name} {log.stem}]\n{log.read_text(errors='replace')}")
        return "\n".join(out)

    def all_logs(self, namespace: str, pipeline_run: str) -> str:
        """Logs of every pipeline task of a run that started (for assertion messages)."""
        obj = self.kube.raw(TEKTON, "PipelineRun", pipeline_run, namespace) or {}
        children = (obj.get("status") or {}).get("childReferences") or []
        return "\n".join(self.logs(namespace, pipeline_run, child["pipelineTaskName"]) for child in children)

    # -- called by the engines ------------------------------------------------------------------------

    def _step_changed(self, key: tuple[str, str], step: RunningStep | None) -> None:
        with self._lock:
            if step is None:
                self._steps.pop(key, None)
            else:
                self._steps[key] = step
                self._seen_steps.append(step)
            self._lock.notify_all()


class _Secrets:
    """The kubelet's view of Secrets: read from the store with full rights."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def read_secret(self, namespace: str, name: str) -> Mapping[str, bytes] | None:
        obj = self.kube.raw("v1", "Secret", name, namespace)
        return None if obj is None else decode_secret(obj)


class _StoreCluster:
    """:class:`~tests.support.tekton.engine.Cluster` over the in-memory store (a controller's writes)."""

    def __init__(self, controller: TektonController) -> None:
        self.controller = controller
        self.kube = controller.kube

    def _rt(self, kind: str) -> Any:
        return self.kube.resource("v1" if kind == "ServiceAccount" else TEKTON, kind)

    def get_object(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.kube.raw("v1" if kind == "ServiceAccount" else TEKTON, kind, name, namespace)

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path) -> Path:
        token = self.kube.service_account_token(namespace, name)
        return write_kubeconfig(
            path, self.kube.url, token, namespace=namespace, user=f"system:serviceaccount:{namespace}:{name}"
        )

    def update_pipeline_run(self, namespace: str, name: str, *, labels: Mapping[str, str]) -> None:
        self._update(
            "PipelineRun", namespace, name, lambda obj: obj["metadata"].setdefault("labels", {}).update(labels)
        )

    def write_pipeline_run_status(self, namespace: str, name: str, status: Obj) -> None:
        self._set_status("PipelineRun", namespace, name, status)

    def create_task_run(self, obj: Obj) -> Obj:
        namespace = obj["metadata"]["namespace"]
        return self.kube.store.create(self._rt("TaskRun"), namespace, obj)

    def write_task_run_status(self, namespace: str, name: str, status: Obj) -> None:
        self._set_status("TaskRun", namespace, name, status)

    def cancel_task_run(self, namespace: str, name: str, message: str) -> None:
        def cancel(obj: Obj) -> None:
            obj["spec"]["status"] = "TaskRunCancelled"
            obj["spec"]["statusMessage"] = message

        self._update("TaskRun", namespace, name, cancel)

    def step_changed(self, key: tuple[str, str], step: RunningStep | None) -> None:
        self.controller._step_changed(key, step)  # the controller's own callback

    def _set_status(self, kind: str, namespace: str, name: str, status: Obj) -> None:
        try:
            self.kube.store.set_status(self._rt(kind), namespace, name, status)
        except ApiError as exc:
            if exc.code == 404:
                raise LookupError(f"{kind} {namespace}/{name} is gone") from None
            raise

    def _update(self, kind: str, namespace: str, name: str, change: Any) -> None:
        store = self.kube.store
        rt = self._rt(kind)
        with store.lock:
            obj = store.raw(rt, namespace, name)
            if obj is None:
                raise LookupError(f"{kind} {namespace}/{name} is gone")
            change(obj)
            store.update(rt, namespace, name, obj)

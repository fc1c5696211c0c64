"""The executor: the kubelet of node ``executor-0``, for TaskRun pods only.

It watches pods whose ``schedulerName`` is ``progressive-executor`` (Tekton's ``default-pod-template`` puts every
TaskRun pod there), binds them to ``executor-0``, runs each in a :class:`~.pod.PodRun`, keeps their downward API
files current, stops them on deletion and then removes the object, as the kubelet finalizes a pod. The node's
status and Lease are kept fresh by :func:`~.node.heartbeat`.

Pods it finds already running when it starts (a previous executor's) cannot be resumed: they are failed with
reason ``ExecutorRestarted``, which Tekton reports on the TaskRun.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.support.cluster.executor.container import SCRATCH_ROOTS
from tests.support.cluster.executor.image import Bundle, load_bundle
from tests.support.cluster.executor.logs import LogServer
from tests.support.cluster.executor.node import heartbeat
from tests.support.cluster.executor.pod import NODE, Host, PodRun
from tests.support.cluster.executor.status import now

__all__ = ["NODE", "SCHEDULER", "Executor", "main"]

SCHEDULER = "progressive-executor"

Obj = dict[str, Any]


class Executor:
    """Watches and runs this node's pods until :meth:`stop`."""

    def __init__(
        self,
        api: client.ApiClient,
        work: Path,
        bin_dir: Path,
        api_port: int,
        pki: Path,
        images: tuple[Bundle, ...] = (),
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        self.host = Host(
            core=self.core,
            work=work,
            bin_dir=bin_dir,
            path=os.pathsep.join(
                [venv_bin, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            ),
            host_dirs=work / "host-dirs.txt",
            api_port=api_port,
            images=images,
        )
        for root in SCRATCH_ROOTS:
            self.host.ensure_host_dir(root)
        self.runs: dict[str, PodRun] = {}
        self._stop = threading.Event()
        self.logs = LogServer(self._find_log, pki / "apiserver.crt", pki / "apiserver.key")

    def stop(self) -> None:
        self._stop.set()

    def serve(self) -> None:
        """Heartbeat in the background; list, then watch, the executor's pods; re-list when the watch expires."""
        threading.Thread(
            target=heartbeat, args=(self.api, NODE, self.logs.port, self._stop), name="heartbeat", daemon=True
        ).start()
        first = True
        while not self._stop.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces(field_selector=f"spec.schedulerName={SCHEDULER}")
                for pod in listing.items:
                    self.handle("ADDED", self.api.sanitize_for_serialization(pod), startup=first)  # type: ignore[no-untyped-call]
                first = False
                assert listing.metadata is not None
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.schedulerName={SCHEDULER}",
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=120,
                    allow_watch_bookmarks=True,
                )
                for event in stream:
                    if self._stop.is_set():
                        break
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self.handle(event["type"], event["raw_object"])
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                print(f"executor: watch interrupted ({error}); listing again", file=sys.stderr, flush=True)
                self._stop.wait(0.5)
        for run in list(self.runs.values()):
            run.delete(0)

    def handle(self, kind: str, pod: Obj, *, startup: bool = False) -> None:
        """React to one pod event."""
        metadata, spec = pod["metadata"], pod["spec"]
        uid = metadata["uid"]
        run = self.runs.get(uid)
        if kind == "DELETED":
            if run is not None:
                self.runs.pop(uid)
                threading.Thread(target=self._finalize, args=(run, 0, None), daemon=True).start()
            return
        if metadata.get("deletionTimestamp"):
            if run is not None and not run.finalizing:
                run.finalizing = True
                grace = float(metadata.get("deletionGracePeriodSeconds") or 30)
                threading.Thread(target=self._finalize, args=(run, grace, pod), daemon=True).start()
            elif run is None:
                self._delete_object(pod)
            return
        if not spec.get("nodeName"):
            self._bind(pod)
            return
        if spec["nodeName"] != NODE:
            return
        if run is not None:
            run.update(pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return
        if startup and (pod.get("status") or {}).get("containerStatuses"):
            self._fail_orphan(pod)
            return
        run = PodRun(self.host, pod)
        self.runs[uid] = run
        run.start()

    def _find_log(self, namespace: str, pod: str, container: str) -> tuple[Path, Callable[[], bool]] | None:
        for run in list(self.runs.values()):
            if (run.namespace, run.name) == (namespace, pod):
                return run.log_path(container), functools.partial(run.container_running, container)
        return None

    # -- helpers --------------------------------------------------------------------------------------

    def _bind(self, pod: Obj) -> None:
        metadata = pod["metadata"]
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=metadata["name"], namespace=metadata["namespace"]),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=NODE),
        )
        try:
            self.core.create_namespaced_binding(metadata["namespace"], body, _preload_content=False)
        except ApiException as error:
            if error.status not in (404, 409):  # deleted, or bound already
                raise

    def _finalize(self, run: PodRun, grace: float, pod: Obj | None) -> None:
        run.delete(grace)
        run.join(timeout=10)
        if pod is not None:
            self._delete_object(pod)
        self.runs.pop(run.uid, None)
        run.remove_files()

    def _delete_object(self, pod: Obj) -> None:
        """Remove the pod object once its containers stopped, as the kubelet does (grace period 0).

        The grace period goes in the body: with a body, the API server ignores the query parameters, and the pod's
        own grace period would leave the object Terminating for good.
        """
        metadata = pod["metadata"]
        try:
            self.core.delete_namespaced_pod(
                metadata["name"],
                metadata["namespace"],
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=metadata["uid"])
                ),
            )
        except ApiException as error:
            if error.status not in (404, 409):  # gone already, or a new pod of the same name
                print(
                    f"executor: delete {metadata['namespace']}/{metadata['name']}: {error.status} {error.body}",
                    file=sys.stderr,
                    flush=True,
                )

    def _fail_orphan(self, pod: Obj) -> None:
        status = dict(pod.get("status") or {})
        status |= {"phase": "Failed", "reason": "ExecutorRestarted", "message": "the executor restarted mid-run"}
        statuses = []
        for container in status.get("containerStatuses") or []:
            if "terminated" in (container.get("state") or {}):
                statuses.append(container)
                continue
            killed = {"exitCode": 137, "reason": "Error", "finishedAt": now(), "startedAt": now()}
            statuses.append(container | {"state": {"terminated": killed}, "ready": False})
        status["containerStatuses"] = statuses
        metadata = pod["metadata"]
        with contextlib.suppress(ApiException):
            self.core.patch_namespaced_pod_status(metadata["name"], metadata["namespace"], {"status": status})


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.cluster.executor --run RUN --build BUILD``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.cluster.executor")
    parser.add_argument("--run", type=Path, required=True, help="the cluster's run directory")
    parser.add_argument("--build", type=Path, required=True, help="the cluster build (for Tekton's binaries)")
    parser.add_argument(
        "--image-bundle",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="an unpacked image (umoci's rootfs/ and config.json) whose references.txt lists the names it answers to",
    )
    args = parser.parse_args(argv)
    images = tuple(
        load_bundle(tuple((bundle / "references.txt").read_text().split()), bundle) for bundle in args.image_bundle
    )
    api = config.new_client_from_config(config_file=str(args.run / "kubeconfig"))  # type: ignore[no-untyped-call]
    api_port = int(json.loads((args.run / "cluster.json").read_text())["ports"]["apiserver"])
    executor = Executor(api, args.run / "executor", args.build / "bin", api_port, args.run / "pki", images)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        executor.stop()
        for run in list(executor.runs.values()):
            run.delete(0)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    executor.serve()
    return 0

"""One TaskRun pod, run to completion the way a kubelet runs it (``../shared/specs/real-cluster.md`` §7.3).

``PodRun`` is a thread per pod: it sets up the volumes (retrying while a Secret or ConfigMap is missing, as the
kubelet retries ``FailedMount``), runs the init containers one by one, then every container at once, each in its own
mount namespace (:mod:`.container`), and publishes the pod's status after every change: Running once the init
containers succeeded, each container's termination with its exit code and termination message, then ``Succeeded``
or ``Failed``. Tekton's real ``entrypoint`` inside the containers does the step ordering, waits, timeouts,
``onError`` and results; nothing of that protocol is imitated here.

On deletion each container's main process (Tekton's entrypoint, which forwards signals to its step) gets SIGTERM,
then, after the pod's grace period, every process of the container gets SIGKILL, and the executor removes the pod
object (as the kubelet does once its containers stopped). ``activeDeadlineSeconds`` kills the pod and fails it with
reason ``DeadlineExceeded``. A container is all the processes of one session (each container starts a session of
its own; the entrypoint puts its step in a process group of its own, so a process group is not enough): when its
main process ends, whatever it left behind is killed, as the end of a container's PID namespace kills it.

A pod using a feature the executor cannot imitate (:mod:`.unsupported`) fails at once with reason ``Unsupported``
and the feature named, before anything runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster.executor.container import SCRATCH_ROOTS, image_root, launch_command
from tests.support.cluster.executor.environment import ConfigError, expand, resolve_env
from tests.support.cluster.executor.image import Bundle, find_bundle, run_as
from tests.support.cluster.executor.status import ContainerState, now, pod_status, read_message
from tests.support.cluster.executor.unsupported import Unsupported, check
from tests.support.cluster.executor.volumes import MountError, lay_out, refresh_downward

__all__ = ["NODE", "Host", "PodRun"]

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[4]
NODE = "executor-0"
"""The node this executor is the kubelet of."""


@dataclass(frozen=True)
class Host:
    """What every pod on this executor shares: the API, the work directory, Tekton's binaries, the PATH."""

    core: client.CoreV1Api
    work: Path
    bin_dir: Path
    path: str
    host_dirs: Path
    """A file listing the mount points this executor had to create on the host."""
    api_port: int
    """The API server's port on 127.0.0.1: with no kube-proxy here, ``KUBERNETES_SERVICE_HOST`` points there."""
    images: tuple[Bundle, ...] = ()
    """Images whose containers run in their own root filesystem (:mod:`.image`); any other runs on the host."""

    def ensure_host_dir(self, target: str) -> None:
        """Make sure a mount point outside the scratch roots exists on the host, recording what was created."""
        path = Path(target)
        missing = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        if not missing:
            return
        path.mkdir(parents=True, exist_ok=True)
        with self.host_dirs.open("a") as record:
            for created in missing:
                record.write(f"{created}\n")


class PodRun(threading.Thread):
    """Runs one pod; :meth:`update` passes on changes of the pod object, :meth:`delete` its deletion."""

    def __init__(self, host: Host, pod: Obj) -> None:
        metadata = pod["metadata"]
        super().__init__(name=f"pod {metadata['namespace']}/{metadata['name']}", daemon=True)
        self.host = host
        self.pod = pod
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.uid: str = metadata["uid"]
        self.dir: Path = host.work / "pods" / self.uid
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._volumes: dict[str, Path] = {}
        self._start_time = now()
        self._init = [ContainerState(c["name"], c.get("image", "")) for c in pod["spec"].get("initContainers") or []]
        self._containers = [ContainerState(c["name"], c.get("image", "")) for c in pod["spec"]["containers"]]
        self._phase = "Pending"
        self.finalizing = False
        """Set once the executor started stopping this pod for its deletion."""
        self._reason = ""
        self._message = ""
        self._sandbox_ready = False
        """Volumes set up (a kubelet then creates the sandbox: ``PodReadyToStartContainers``)."""
        self._mount_error = ""

    # -- events from the watch ------------------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        """The pod object changed: keep the downward API files current."""
        with self._lock:
            self.pod = pod
            if self._volumes:
                with contextlib.suppress(MountError, OSError):
                    refresh_downward(pod, self._volumes)

    def delete(self, grace: float) -> None:
        """Stop the containers (SIGTERM, SIGKILL after ``grace`` s); called on deletionTimestamp or DELETED."""
        self._stopping.set()
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(p.poll() is None for p in list(self._processes.values())):
            time.sleep(0.05)
        self._signal_all(signal.SIGKILL)

    def log_path(self, container: str) -> Path:
        return self.dir / "logs" / f"{container}.log"

    def container_running(self, container: str) -> bool:
        process = self._processes.get(container)
        if process is None:
            return not self._stopping.is_set() and any(
                c.name == container and not c.terminated for c in self._init + self._containers
            )
        return process.poll() is None

    def remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- the run --------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Unsupported as error:
            self._fail_unsupported(str(error))
        except Exception as error:
            self._phase, self._reason, self._message = "Failed", "ExecutorError", f"{type(error).__name__}: {error}"
            self._publish()
            print(f"executor: {self.namespace}/{self.name}: {self._message}", file=sys.stderr, flush=True)

    def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "pod.json").write_text(json.dumps(self.pod, indent=1))
        check(self.pod)
        self._publish()
        while not self._stopping.is_set():
            try:
                self._volumes = lay_out(self.pod, self.dir, self.host.work / "claims", self._lookup, self._token)
                break
            except MountError as error:
                self._mount_failed(str(error))
                self._stopping.wait(1.0)
        self._sandbox_ready = True
        deadline = self._deadline()
        for state, spec in zip(self._init, self.pod["spec"].get("initContainers") or [], strict=True):
            code = self._run_one(spec, state, deadline)
            if code != 0:
                self._finish("Failed")
                return
        if self._stopping.is_set():
            return
        started = [
            self._start(spec, state)
            for state, spec in zip(self._containers, self.pod["spec"]["containers"], strict=True)
        ]
        self._phase = "Running"
        self._publish()
        running = {
            state.name: (process, state) for process, state in zip(started, self._containers, strict=True) if process
        }
        while running:
            for name, (process, state) in list(running.items()):
                if process.poll() is not None:
                    self._terminated(state, process.returncode)
                    del running[name]
                    self._publish()
            if running:
                self._check_deadline(deadline)
                time.sleep(0.05)
        self._finish("Failed" if any(c.exit_code != 0 for c in self._containers) else "Succeeded")

    def _fail_unsupported(self, feature: str) -> None:
        """Fail the pod for a feature the executor cannot imitate, the feature named, nothing left running."""
        self._stopping.set()
        self._signal_all(signal.SIGKILL)
        message = f"the test executor cannot imitate {feature}"
        for state in self._init + self._containers:
            if not state.terminated:
                state.started_at = ""
                state.waiting_reason, state.waiting_message = "Unsupported", message
        self._phase, self._reason, self._message = "Failed", "Unsupported", message
        self._publish()
        print(f"executor: {self.namespace}/{self.name}: {message}", file=sys.stderr, flush=True)

    def _finish(self, phase: str) -> None:
        if self._stopping.is_set() and not self._reason:
            return  # being deleted: the object goes away, no final status
        self._phase = phase
        self._publish()

    def _deadline(self) -> float | None:
        seconds = self.pod["spec"].get("activeDeadlineSeconds")
        return time.monotonic() + float(seconds) if seconds else None

    def _wait(self, process: subprocess.Popen[bytes], deadline: float | None) -> None:
        while process.poll() is None:
            self._check_deadline(deadline)
            time.sleep(0.05)

    def _check_deadline(self, deadline: float | None) -> None:
        """Past ``activeDeadlineSeconds``: kill everything; the pod fails with reason ``DeadlineExceeded``."""
        if deadline is None or time.monotonic() < deadline or self._reason:
            return
        self._reason = "DeadlineExceeded"
        self._message = (
            f"Pod was active on the node longer than the specified deadline "
            f"({self.pod['spec']['activeDeadlineSeconds']} s)"
        )
        self._stopping.set()
        self._signal_all(signal.SIGKILL)

    def _run_one(self, spec: Obj, state: ContainerState, deadline: float | None) -> int:
        process = self._start(spec, state)
        if process is None:
            return state.exit_code if state.exit_code is not None else 1
        self._publish()
        self._wait(process, deadline)
        self._terminated(state, process.returncode)
        self._publish()
        return process.returncode

    def _terminated(self, state: ContainerState, returncode: int) -> None:
        process = self._processes.get(state.name)
        if process is not None:
            _kill_session(process.pid, signal.SIGKILL)  # what the container left behind dies with it
        state.exit_code = returncode if returncode >= 0 else 128 - returncode
        state.finished_at = now()
        path = self._termination_path(state.name)
        state.message = read_message(path)

    def _termination_path(self, container: str) -> Path:
        return self.dir / "term" / container

    # -- one container --------------------------------------------------------------------------------

    def _start(self, spec: Obj, state: ContainerState) -> subprocess.Popen[bytes] | None:
        """Start a container's process, or record why it cannot start (None)."""
        bundle = find_bundle(self.host.images, spec.get("image", ""))
        while True:
            try:
                env = resolve_env(self.pod, spec, self._lookup)
                user = run_as(bundle, self.pod, spec) if bundle else None
                break
            except ConfigError as error:
                if (state.waiting_reason, state.waiting_message) != ("CreateContainerConfigError", str(error)):
                    state.waiting_reason, state.waiting_message = "CreateContainerConfigError", str(error)
                    self._publish()
                if self._stopping.wait(1.0):
                    return None
        if self._stopping.is_set():
            return None
        command = [expand(part, env) for part in (spec.get("command") or [])]
        args = [expand(part, env) for part in (spec.get("args") or [])]
        argv = command + args
        if not command:
            raise Unsupported(f"container {spec['name']!r} without command (its image's ENTRYPOINT)")
        if bundle:
            env = {**dict(bundle.env), **env}  # the image's environment under the container's, as runtimes merge them
        else:
            env.setdefault("HOME", "/tekton/home" if self._mounts_at(spec, "/tekton/home") else "/root")
            env["PATH"] = f"{env['PATH']}:{self.host.path}" if "PATH" in env else self.host.path
        env.setdefault("HOSTNAME", self.name)
        # what the kubelet injects for the default/kubernetes Service, pointed at the server (no kube-proxy here)
        env.update(
            KUBERNETES_SERVICE_HOST="127.0.0.1",
            KUBERNETES_SERVICE_PORT=str(self.host.api_port),
            KUBERNETES_SERVICE_PORT_HTTPS=str(self.host.api_port),
        )
        container_spec = {
            "mounts": self._mounts(spec),
            "workingDir": spec.get("workingDir") or (bundle.cwd if bundle else "/"),
            "env": env,
            "argv": argv,
            "image": self._image_root(spec, bundle, user) if bundle and user else None,
        }
        spec_file = self.dir / "containers" / f"{spec['name']}.json"
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(json.dumps(container_spec))
        log = self.log_path(spec["name"])
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                launch_command(spec_file),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"PATH": self.host.path, "PYTHONPATH": str(REPO)},
                cwd=REPO,
                start_new_session=True,
            )
        self._processes[spec["name"]] = process
        pid_file = self.dir / "pids" / spec["name"]
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{process.pid}\n")  # also the process group: tests find a step's processes by it
        state.started_at = now()
        return process

    def _image_root(self, spec: Obj, bundle: Bundle, user: tuple[int, int]) -> Obj:
        """Where and as whom :mod:`.container` runs a container of a known image."""
        context = spec.get("securityContext") or {}
        root = self.dir / "roots" / spec["name"]
        root.mkdir(parents=True, exist_ok=True)
        return image_root(bundle.rootfs, root, user, read_only=bool(context.get("readOnlyRootFilesystem")))

    @staticmethod
    def _mounts_at(spec: Obj, target: str) -> bool:
        return any(m["mountPath"] == target for m in spec.get("volumeMounts") or [])

    def _mounts(self, spec: Obj) -> list[Obj]:
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            source = self._volumes[mount["name"]]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                source.mkdir(parents=True, exist_ok=True)
            self._ensure_mount_point(mount["mountPath"])
            mounts.append(
                {"source": str(source), "target": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))}
            )
        termination = spec.get("terminationMessagePath") or "/dev/termination-log"
        term_file = self._termination_path(spec["name"])
        term_file.parent.mkdir(parents=True, exist_ok=True)
        term_file.touch()
        term_file.chmod(0o666)  # as the kubelet leaves it, for a step of any user
        self._ensure_mount_point(str(Path(termination).parent))
        mounts.append({"source": str(term_file), "target": termination, "readOnly": False})
        for binary in ("entrypoint", "workingdirinit"):
            mounts.append({"source": str(self.host.bin_dir / binary), "target": f"/ko-app/{binary}", "readOnly": True})
        return mounts

    def _ensure_mount_point(self, target: str) -> None:
        if not any(target == root or target.startswith(root + "/") for root in SCRATCH_ROOTS):
            self.host.ensure_host_dir(target)

    # -- API helpers ----------------------------------------------------------------------------------

    def _lookup(self, kind: str, name: str) -> Obj | None:
        obj: object
        try:
            if kind == "Secret":
                obj = self.host.core.read_namespaced_secret(name, self.namespace)
            else:
                obj = self.host.core.read_namespaced_config_map(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        found: Obj = self.host.core.api_client.sanitize_for_serialization(obj)
        return found

    def _token(self, audience: str, expiration: int) -> str:
        """A token of the pod's ServiceAccount bound to the pod, as the kubelet requests one for a projected volume."""
        spec = client.V1TokenRequestSpec(
            audiences=[audience] if audience else [],
            expiration_seconds=max(600, int(expiration)),
            bound_object_ref=client.V1BoundObjectReference(api_version="v1", kind="Pod", name=self.name, uid=self.uid),
        )
        account = self.pod["spec"].get("serviceAccountName") or "default"
        response = self.host.core.create_namespaced_service_account_token(
            account, self.namespace, client.AuthenticationV1TokenRequest(spec=spec)
        )
        assert response.status is not None and response.status.token is not None
        return response.status.token

    def _mount_failed(self, message: str) -> None:
        """A volume cannot be set up yet: as a kubelet, keep the pod Pending (init containers ``ContainerCreating``,
        no message) and report the cause once as a ``FailedMount`` Warning event on the pod."""
        if message == self._mount_error:
            return
        self._mount_error = message
        for state in self._init or self._containers:
            state.waiting_reason = "ContainerCreating"
        self._publish()
        stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{self.name}.", namespace=self.namespace),
            involved_object=client.V1ObjectReference(
                api_version="v1", kind="Pod", name=self.name, namespace=self.namespace, uid=self.uid
            ),
            reason="FailedMount",
            message=message,
            type="Warning",
            source=client.V1EventSource(component="kubelet", host=NODE),
            reporting_component="kubelet",
            reporting_instance=NODE,
            first_timestamp=stamp,
            last_timestamp=stamp,
            count=1,
        )
        try:
            self.host.core.create_namespaced_event(self.namespace, event)
        except ApiException as error:
            print(
                f"executor: event for {self.namespace}/{self.name}: {error.status} {error.body}",
                file=sys.stderr,
                flush=True,
            )

    def _signal_all(self, signum: int) -> None:
        """SIGTERM: each container's main process, as a kubelet signals PID 1; SIGKILL: all of each container."""
        for process in list(self._processes.values()):
            if signum == signal.SIGKILL:
                _kill_session(process.pid, signum)
            elif process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    def _publish(self) -> None:
        status = pod_status(
            self._phase,
            self._init,
            self._containers,
            start_time=self._start_time,
            reason=self._reason,
            message=self._message,
            sandbox_ready=self._sandbox_ready,
        )
        try:
            self.host.core.patch_namespaced_pod_status(self.name, self.namespace, {"status": status})
        except ApiException as error:
            if error.status == 404:  # deleted meanwhile
                self._stopping.set()
                return
            print(
                f"executor: status of {self.namespace}/{self.name}: {error.status} {error.body}",
                file=sys.stderr,
                flush=True,
            )


def _kill_session(session: int, signum: int) -> None:
    """Signal every live process of a session (one container: its main process started the session)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signum)

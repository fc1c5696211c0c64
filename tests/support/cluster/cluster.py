"""``LocalCluster``: start, inspect and stop the real local control plane (``scripts/cluster up | status | down``).

What runs, in order (each a process of its own, see :mod:`.components`):

=====================  ==========================================================================================
etcd                   storage, on 127.0.0.1
kube-apiserver         the real API: RBAC, CRD schemas (pruning, defaulting, CEL), admission, conflicts
kube-controller-manager  the real Deployment, ReplicaSet, namespace, ServiceAccount and garbage collectors
kube-scheduler         binds Deployment pods to the kwok node
kwok                   simulates node ``kwok-0`` and its pods (Running and Ready one by one; see kwok-stages.yaml)
relay                  the API server's port as a Unix socket, for Tekton's namespaces (see :mod:`.relay`)
webhook-relay          Tekton's webhook (in its namespace) on 127.0.0.1, for the API server
tekton-webhook         Tekton Pipelines' own admission webhook: validation and defaulting at create time
tekton-controller      Tekton Pipelines' own controller, in a private network namespace
executor               plays kubelet for TaskRun pods on ``executor-0``: runs Tekton's real entrypoint per step,
                       and the step image's containers in its unpacked root filesystem (:mod:`tests.support.image`)
status-writers         stand-ins for data planes: Gateway API and Contour status, as their controllers write it
=====================  ==========================================================================================

Simulated, because nothing here can run containers or carry traffic: nodes, the Deployments' pods (kwok), step
containers (the step image's unpacked root filesystem, chrooted as the image's user; other images as host
processes; each in its own mount namespace, see :mod:`.executor`) and the data planes' status.

The run directory (``.cluster/`` for ``scripts/cluster``, a temporary one per test session) holds ``kubeconfig``
(admin), ``cluster.json`` (ports and paths), ``step-image.json`` (the step image the executor runs), ``pki/``,
``etcd/``, ``logs/`` and ``pids/``. ``up`` is idempotent: a cluster whose components all run is left alone;
otherwise whatever is left is stopped and everything starts again on the same ports and data. ``down`` stops only
the processes it started, by pid.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.support.cluster import audit, components, processes, rest
from tests.support.cluster.binaries import Build, find_build
from tests.support.cluster.bootstrap import EXECUTOR_NODE, KWOK_NODE, bootstrap, tekton_webhook_configuration
from tests.support.cluster.kubeconfig import write_kubeconfig
from tests.support.cluster.pki import Credentials, make_credentials
from tests.support.cluster.processes import Component
from tests.support.image import step_image
from tests.support.prometheus import free_port

__all__ = ["COMPONENTS", "ClusterFailed", "LocalCluster"]

REPO = Path(__file__).resolve().parents[3]

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "relay",
    "webhook-relay",
    "tekton-webhook",
    "tekton-controller",
    "executor",
    "status-writers",
)
"""Start order; ``down`` stops them in reverse."""


class ClusterFailed(RuntimeError):
    """A component did not start or become ready; the message carries the end of its log."""


@dataclass(frozen=True)
class _State:
    """What ``cluster.json`` records: enough to reconnect to, or restart, the same cluster."""

    build: str
    ports: components.Ports


def _wait(what: str, ready: Callable[[], bool], timeout: float, run: Path, component: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if processes.alive(run, component) is None:
            raise ClusterFailed(f"{component} exited while waiting for {what}:\n{processes.log_tail(run, component)}")
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, client.ApiException):
            pass
        time.sleep(0.1)
    raise ClusterFailed(f"{what}: not ready after {timeout:.0f} s:\n{processes.log_tail(run, component)}")


class LocalCluster:
    """The local cluster whose state lives in ``run`` (see the module docstring)."""

    def __init__(self, run: Path, build: Build | None = None) -> None:
        self.run = run.resolve()
        self._build = build

    # -- paths ----------------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (``system:masters``)."""
        return self.run / "kubeconfig"

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.run / "pki")

    @property
    def build(self) -> Build:
        """The build ``up`` starts (the pinned versions' build), or the one the running cluster was started from."""
        if self._build is None:
            state = self._state()
            running = state is not None and any(self.running().values())
            self._build = Build(Path(state.build)) if running and state else find_build()
        return self._build

    def _state(self) -> _State | None:
        try:
            data = json.loads((self.run / "cluster.json").read_text())
        except FileNotFoundError:
            return None
        return _State(build=data["build"], ports=components.Ports(**data["ports"]))

    @property
    def ports(self) -> components.Ports:
        state = self._state()
        if state is None:
            raise ClusterFailed(f"no cluster in {self.run}: run scripts/cluster up")
        return state.ports

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    # -- inspection -----------------------------------------------------------------------------------

    def running(self) -> dict[str, int | None]:
        """Each component's pid, or None when it is not running."""
        return {name: processes.alive(self.run, name) for name in COMPONENTS}

    def api_client(self) -> client.ApiClient:
        """An official client with the admin credentials (close it when done)."""
        api: client.ApiClient = config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]
        return api

    def _readyz(self) -> bool:
        context = ssl.create_default_context(cafile=str(self.credentials.ca_cert))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.credentials.admin_token}"}
        )
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return bool(response.read() == b"ok")

    def status(self) -> dict[str, Any]:
        """Components, API readiness, nodes: what ``scripts/cluster status`` prints."""
        running = self.running()
        report: dict[str, Any] = {"run": str(self.run), "components": running}
        if running.get("kube-apiserver"):
            try:
                report["apiserver"] = self.server if self._readyz() else "not ready"
            except (OSError, urllib.error.URLError) as error:
                report["apiserver"] = f"not ready ({error})"
        return report

    # -- up and down ----------------------------------------------------------------------------------

    def up(self) -> None:
        """Start every component (see the module docstring); returns once the cluster can run a PipelineRun."""
        if all(self.running().values()):
            return
        self.down()
        started = time.monotonic()
        self.run.mkdir(parents=True, exist_ok=True)
        previous = self._state()
        state = _State(
            build=str(self.build.root),
            ports=previous.ports if previous else components.Ports(free_port(), free_port(), free_port(), free_port()),
        )
        if not state.ports.webhook:
            state = _State(build=state.build, ports=dataclasses.replace(state.ports, webhook=free_port()))
        (self.run / "cluster.json").write_text(
            json.dumps({"build": state.build, "ports": asdict(state.ports)}, indent=2) + "\n"
        )
        build, ports, run = self.build, state.ports, self.run
        _check_free(ports.etcd_client, ports.etcd_peer, ports.apiserver, ports.webhook)
        creds = make_credentials(run / "pki")
        (run / "logs").mkdir(parents=True, exist_ok=True)
        (run / "audit-policy.yaml").write_text(audit.POLICY)
        write_kubeconfig(self.kubeconfig, self.server, creds.ca_cert, creds.admin_token)
        write_kubeconfig(
            run / "tekton.kubeconfig", f"https://127.0.0.1:{ports.tekton_api}", creds.ca_cert, creds.admin_token
        )
        try:
            self._start(components.etcd(build, run, ports))
            _wait("etcd health", lambda: self._etcd_healthy(ports), 30, run, "etcd")
            self._start(components.apiserver(build, run, ports, creds))
            _wait("kube-apiserver /readyz", self._readyz, 90, run, "kube-apiserver")
            self._start(components.controller_manager(build, run, creds))
            self._start(components.scheduler(build, run))
            self._start(components.kwok(build, run))
            self._start(
                self._python("relay", "relay", f"unix:{run / 'apiserver.sock'}", f"tcp:127.0.0.1:{ports.apiserver}")
            )
            with self.api_client() as api:
                bootstrap(api, build.crds)
            self._start(
                self._python("webhook-relay", "relay", f"tcp:127.0.0.1:{ports.webhook}", f"unix:{run / 'webhook.sock'}")
            )
            self._start(components.tekton_webhook(build, run, ports))
            with self.api_client() as api:
                tekton_webhook_configuration(api, build.crds, ports.webhook)
                _wait("Tekton's webhook admitting Tasks", lambda: _webhook_answers(api), 120, run, "tekton-webhook")
            self._start(components.tekton_controller(build, run, ports))
            image = step_image()
            (run / "step-image.json").write_text(
                json.dumps({"digest": image.built.digest, "bundle": str(image.bundle)}, indent=2) + "\n"
            )
            self._start(
                self._python(
                    "executor", "executor", f"--run={run}", f"--build={build.root}", f"--image-bundle={image.bundle}"
                )
            )
            self._start(self._python("status-writers", "status_writers", f"--kubeconfig={self.kubeconfig}"))
            with self.api_client() as api:
                account = "/api/v1/namespaces/default/serviceaccounts/default"
                _wait(
                    "ServiceAccount default/default", lambda: _exists(api, account), 60, run, "kube-controller-manager"
                )
                _wait(f"Node {KWOK_NODE} Ready", lambda: _node_ready(api, KWOK_NODE), 60, run, "kwok")
                _wait(f"Node {EXECUTOR_NODE} Ready", lambda: _node_ready(api, EXECUTOR_NODE), 60, run, "executor")
        except BaseException:
            self.down()
            raise
        tools = run / "bin"
        tools.mkdir(exist_ok=True)
        (tools / "kubectl").unlink(missing_ok=True)
        (tools / "kubectl").symlink_to(build.binary("kubectl"))
        (run / "logs" / "up.log").write_text(f"up in {time.monotonic() - started:.1f} s\n")

    def down(self) -> list[str]:
        """Stop the components this run directory started (reverse order); return the names that were running."""
        return [name for name in reversed(COMPONENTS) if processes.stop(self.run, name)]

    # -- helpers --------------------------------------------------------------------------------------

    def _start(self, component: Component) -> None:
        processes.start(self.run, component)

    def _python(self, name: str, module: str, *args: str) -> Component:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        return Component(name, [sys.executable, "-m", f"tests.support.cluster.{module}", *args], env=env, cwd=REPO)

    @property
    def step_image_digest(self) -> str:
        """The digest of the step image this cluster's executor runs (built when the cluster came up)."""
        return str(json.loads((self.run / "step-image.json").read_text())["digest"])

    @staticmethod
    def _etcd_healthy(ports: components.Ports) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports.etcd_client}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("health") == "true")


def _webhook_answers(api: client.ApiClient) -> bool:
    """A dry-run create of an invalid Task is refused by the webhook's validation (and a valid one is admitted)."""
    custom = client.CustomObjectsApi(api)
    task = {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"steps": [{"name": "Not_A_DNS_Label", "image": "busybox", "command": ["true"]}]},
    }
    try:
        custom.create_namespaced_custom_object("tekton.dev", "v1", "default", "tasks", task, dry_run="All")
    except client.ApiException as error:
        return error.status == 400 and "invalid value" in str(error.body).lower()
    return False


def _check_free(*ports: int) -> None:
    """Fail before starting anything when a port of this cluster is taken (by a cluster nobody stopped?)."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                raise ClusterFailed(
                    f"127.0.0.1:{port} is in use ({error.strerror}): is a cluster from this run directory still "
                    "running without its pid files? Stop it, or remove cluster.json to pick new ports"
                ) from error


def _exists(api: client.ApiClient, path: str) -> bool:
    try:
        rest.request(api, "GET", path)
    except rest.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _node_ready(api: client.ApiClient, name: str) -> bool:
    conditions = (rest.request(api, "GET", f"/api/v1/nodes/{name}").get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

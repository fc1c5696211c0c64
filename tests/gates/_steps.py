"""Running ``progressive step ...`` and ``progressive approve|abort`` the way Tekton and people do: as processes.

Each run is a fresh ``python -m progressive.cli`` process that finds the real local cluster through
``KUBECONFIG``, as set by the ``cluster_env`` fixture (admin, straight to the API server) or the ``api_proxy``
fixture (through the fault proxy, whose log records every request the process made). The code under test starts
cold, prints its JSON lines on its own stdout, and can be killed in the middle (the resume tests). Everything
happens in the test's own namespace (``cluster.namespace``). Helpers to seed and read the state record and to
list the Events progressive recorded live here too.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from progressive.kube.approvals import APPROVALS_KEY
from progressive.naming import approvals_secret, state_configmap
from progressive.state import CONFIGMAP_KEY, Approval, State
from tests.support.cluster.access import Cluster
from tests.support.cluster.kubeconfig import write_kubeconfig

__all__ = [
    "APPROVALS",
    "CANARY",
    "RECORD",
    "ROLLOUT",
    "RUN_ID",
    "Finished",
    "Running",
    "events",
    "personal_kubeconfig",
    "read_approvals",
    "read_state",
    "record_version",
    "run_cli",
    "run_step",
    "seed_canary",
    "seed_state",
    "start_step",
    "write_approvals",
    "write_state",
]

REPO = Path(__file__).resolve().parents[2]
ROLLOUT = "podinfo"
RUN_ID = "podinfo-x7k2p"
CANARY = "podinfo-canary"
RECORD = state_configmap(ROLLOUT)
"""The state record ConfigMap's name (``progressive-podinfo``)."""
APPROVALS = approvals_secret(ROLLOUT)
"""The approvals Secret's name (``progressive-podinfo-approvals``)."""
COMPONENT = "progressive"
"""``reportingComponent`` of progressive's Events; the controller manager records Events of its own."""


@dataclass(frozen=True, slots=True)
class Finished:
    """A process that ended: exit code, JSON lines of stdout, and both streams as text."""

    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[dict[str, Any]]:
        """stdout's JSON objects (the step prints nothing else on stdout)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def events(self) -> list[str]:
        """The ``event`` of each announced transition, in order."""
        return [line["event"] for line in self.lines if "event" in line]

    def line(self, event: str) -> dict[str, Any]:
        """The JSON line that announced ``event`` (the last one, if several)."""
        found = [line for line in self.lines if line.get("event") == event]
        assert found, f"no {event!r} line in {self.stdout!r} (stderr {self.stderr!r})"
        return found[-1]

    @property
    def error(self) -> str:
        """The ``error`` of the failure line, ``""`` when the run did not fail."""
        failed = [line for line in self.lines if "error" in line and "exit" in line]
        return str(failed[-1]["error"]) if failed else ""

    def events_accepted(self) -> Finished:
        """Self, after checking that the API server accepted every Event the process recorded.

        A refused Event never fails a step (it becomes a ``warning`` line, or a warning on stderr for
        ``approve``/``abort``), so without this check a body the real server rejects would go unnoticed.
        """
        refused = [line["warning"] for line in self._json_lines() if "not recorded" in str(line.get("warning", ""))]
        refused += [text for text in self.stderr.splitlines() if text.startswith("warning: Event ")]
        assert not refused, f"the API server refused Events: {refused}"
        return self

    def _json_lines(self) -> list[dict[str, Any]]:
        """stdout's JSON objects, skipping anything else (``approve``/``abort`` print sentences)."""
        parsed = []
        for text in self.stdout.splitlines():
            try:
                line = json.loads(text)
            except ValueError:
                continue
            if isinstance(line, dict):
                parsed.append(line)
        return parsed


class Running:
    """A step process that was started and may still run."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._read = ""
        """stdout lines :meth:`next_line` consumed before :meth:`wait` collects the rest."""

    def next_line(self, timeout: float = 60.0) -> dict[str, Any]:
        """The next JSON line on stdout, as soon as the step prints it (to time what follows from there)."""
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"no line on stdout within {timeout}s (exit code {self.process.poll()})")
        self._read += line
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def wait(self, timeout: float = 60.0) -> Finished:
        """Wait for the end (fail the test after ``timeout`` seconds) and collect the output."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise AssertionError(f"step still running after {timeout}s; stdout {stdout!r} stderr {stderr!r}") from None
        return Finished(self.process.returncode, self._read + stdout, stderr).events_accepted()

    def kill(self) -> Finished:
        """SIGKILL, as the kubelet does when a Pod is evicted: no cleanup runs."""
        self.process.send_signal(signal.SIGKILL)
        return self.wait()


def _env(kubeconfig: Path | None, extra: dict[str, str] | None) -> dict[str, str]:
    """The process's environment: ours without in-cluster variables, ``KUBECONFIG`` from the fixture or given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    assert env.get("KUBECONFIG"), "no KUBECONFIG: use the cluster_env or api_proxy fixture"
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def _argv(command: str, flags: dict[str, object]) -> list[str]:
    argv = [sys.executable, "-m", "progressive.cli", "step", command]
    for name, value in flags.items():
        argv.append(f"--{name.replace('_', '-')}={value}")
    return argv


def start_step(cluster: Cluster, command: str, env: dict[str, str] | None = None, **flags: object) -> Running:
    """Start ``progressive step COMMAND --flag=value ...``; flags given as ``flag_name=value``.

    ``namespace`` defaults to the test's, ``rollout`` and ``run-id`` to this module's constants.
    """
    values: dict[str, object] = {"namespace": cluster.namespace, "rollout": ROLLOUT, "run_id": RUN_ID}
    values.update(flags)
    process = subprocess.Popen(
        _argv(command, values),
        cwd=REPO,
        env=_env(None, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Running(process)


def run_step(cluster: Cluster, command: str, env: dict[str, str] | None = None, **flags: object) -> Finished:
    """:func:`start_step` and wait for it."""
    return start_step(cluster, command, env, **flags).wait()


def run_cli(*args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None) -> Finished:
    """``progressive ARGS...`` (``approve``, ``abort``), as a person runs it: their kubeconfig (default: the
    fixture's, whose context namespace is the test's)."""
    done = subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args],
        cwd=REPO,
        env=_env(kubeconfig, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr).events_accepted()


def personal_kubeconfig(cluster: Cluster, user: str) -> Path:
    """A person's kubeconfig as ``kubectl config`` leaves it: their user name (the label ``approve``/``abort``
    record when ``--by`` is not given; here with the admin's token) and no namespace in the context (so
    ``default``)."""
    local = cluster.local
    path = cluster.workdir / f"kubeconfig-person-{user or 'nameless'}"
    return write_kubeconfig(path, local.server, local.credentials.ca_cert, local.credentials.admin_token, user=user)


def seed_canary(cluster: Cluster, name: str = CANARY) -> None:
    """The canary Deployment the steps record their Events on (the controller manager rolls it out)."""
    cluster.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.5.0"}]},
                },
            },
        }
    )


def seed_state(cluster: Cluster, state: State) -> None:
    """Create the rollout's state record, as earlier stages would have left it, and the (empty) approvals
    Secret, as applying the compiled ``rbac.yaml`` leaves it."""
    if cluster.get("v1", "Secret", APPROVALS) is None:
        cluster.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": APPROVALS}, "type": "Opaque"})
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": RECORD},
            "data": {CONFIGMAP_KEY: state.to_json()},
        }
    )


def read_approvals(cluster: Cluster) -> tuple[Approval, ...]:
    """The approvals Secret's list (every run's), as stored; ``()`` when empty."""
    stored = cluster.must_get("v1", "Secret", APPROVALS)
    encoded = (stored.get("data") or {}).get(APPROVALS_KEY)
    return tuple(Approval(**item) for item in json.loads(base64.b64decode(encoded))) if encoded else ()


def write_approvals(cluster: Cluster, *approvals: Approval) -> None:
    """Overwrite the approvals Secret's list, as an approver (or an admin) may."""
    text = json.dumps([asdict(approval) for approval in approvals])
    cluster.patch("v1", "Secret", APPROVALS, {"data": {APPROVALS_KEY: base64.b64encode(text.encode()).decode()}})


def write_state(cluster: Cluster, state: State) -> None:
    """Overwrite the record as another writer (the rollback beside the step) does: a merge patch of its data."""
    cluster.patch("v1", "ConfigMap", RECORD, {"data": {CONFIGMAP_KEY: state.to_json()}})


def read_state(cluster: Cluster) -> State:
    """The record as stored; ``State()`` when there is none."""
    stored = cluster.get("v1", "ConfigMap", RECORD)
    if stored is None:
        return State()
    return State.from_json(stored["data"][CONFIGMAP_KEY])


def record_version(cluster: Cluster) -> str:
    """The record's ``resourceVersion`` (``""`` when there is none): unchanged means nothing was written to it."""
    stored = cluster.get("v1", "ConfigMap", RECORD)
    return str(stored["metadata"]["resourceVersion"]) if stored else ""


def events(cluster: Cluster, kind: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """core/v1 Events progressive recorded in the test's namespace, oldest first, optionally only those about
    ``kind``/``name`` (the controller manager's own Events on the canary Deployment are left out)."""
    found = [
        event
        for event in cluster.list("v1", "Event")
        if event.get("reportingComponent") == COMPONENT
        and (kind is None or event["involvedObject"]["kind"] == kind)
        and (name is None or event["involvedObject"]["name"] == name)
    ]
    return sorted(found, key=lambda event: event["metadata"]["name"].rsplit(".", 1)[-1])

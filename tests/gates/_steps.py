"""Running ``progressive step ...`` and ``progressive approve|abort`` the way Tekton and people do: as processes.

Each run is a fresh ``python -m progressive.cli`` process whose ``KUBECONFIG`` points at the in-repo API
server, so the code under test finds the cluster the standard way, starts cold, prints its JSON lines on
its own stdout, and can be killed in the middle (the resume tests). Helpers to seed and read the state
record and to list the Events recorded live here too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progressive.naming import state_configmap
from progressive.state import CONFIGMAP_KEY, State
from tests.support.kubeapi import Kube

__all__ = [
    "NAMESPACE",
    "ROLLOUT",
    "RUN_ID",
    "Finished",
    "Running",
    "events",
    "read_state",
    "run_cli",
    "run_step",
    "seed_canary",
    "seed_state",
    "start_step",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "shop"
ROLLOUT = "podinfo"
RUN_ID = "podinfo-x7k2p"
CANARY = "podinfo-canary"


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


class Running:
    """A step process that was started and may still run."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    def wait(self, timeout: float = 60.0) -> Finished:
        """Wait for the end (fail the test after ``timeout`` seconds) and collect the output."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise AssertionError(f"step still running after {timeout}s; stdout {stdout!r} stderr {stderr!r}") from None
        return Finished(self.process.returncode, stdout, stderr)

    def kill(self) -> Finished:
        """SIGKILL, as the kubelet does when a Pod is evicted: no cleanup runs."""
        self.process.send_signal(signal.SIGKILL)
        return self.wait()


def _env(kubeconfig: Path, extra: dict[str, str] | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(kubeconfig)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def _argv(command: str, flags: dict[str, object]) -> list[str]:
    argv = [sys.executable, "-m", "progressive.cli", "step", command]
    for name, value in flags.items():
        argv.append(f"--{name.replace('_', '-')}={value}")
    return argv


def start_step(kube: Kube, command: str, env: dict[str, str] | None = None, **flags: object) -> Running:
    """Start ``progressive step COMMAND --flag=value ...``; flags given as ``flag_name=value``.

    ``namespace``, ``rollout`` and ``run-id`` default to this module's constants.
    """
    values: dict[str, object] = {"namespace": NAMESPACE, "rollout": ROLLOUT, "run_id": RUN_ID}
    values.update(flags)
    process = subprocess.Popen(
        _argv(command, values),
        cwd=REPO,
        env=_env(kube.kubeconfig, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Running(process)


def run_step(kube: Kube, command: str, env: dict[str, str] | None = None, **flags: object) -> Finished:
    """:func:`start_step` and wait for it."""
    return start_step(kube, command, env, **flags).wait()


def run_cli(kube: Kube, *args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None) -> Finished:
    """``progressive ARGS...`` (``approve``, ``abort``) with the given kubeconfig (default: the admin one)."""
    done = subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args],
        cwd=REPO,
        env=_env(kubeconfig or kube.kubeconfig, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def seed_canary(kube: Kube, name: str = CANARY) -> None:
    """The canary Deployment the steps record their Events on (its namespace is created with it)."""
    kube.seed(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
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


def seed_state(kube: Kube, state: State) -> None:
    """Put the rollout's state record in place, as earlier stages would have left it."""
    kube.seed(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": state_configmap(ROLLOUT), "namespace": NAMESPACE},
            "data": {CONFIGMAP_KEY: state.to_json()},
        }
    )


def read_state(kube: Kube) -> State:
    """The record as stored; ``State()`` when there is none."""
    stored = kube.raw("v1", "ConfigMap", state_configmap(ROLLOUT), NAMESPACE)
    if stored is None:
        return State()
    return State.from_json(stored["data"][CONFIGMAP_KEY])


def events(kube: Kube, kind: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """core/v1 Events in the rollout's namespace, oldest first, optionally only those about ``kind``/``name``."""
    found = [
        event
        for event in kube.list("v1", "Event", NAMESPACE)
        if (kind is None or event["involvedObject"]["kind"] == kind)
        and (name is None or event["involvedObject"]["name"] == name)
    ]
    return sorted(found, key=lambda event: event["metadata"]["name"].rsplit(".", 1)[-1])


def wait_until(condition: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``condition()`` every 50 ms until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)

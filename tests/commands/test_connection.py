"""``--kubeconfig`` and ``--context`` on every command that talks to a cluster, as ``kubectl`` has them.

Real child processes against the local cluster. The kubeconfig given by flag has two contexts: ``broken``
(its current one, a server nobody listens on) and ``real`` (the test cluster, with the test's namespace), and
``KUBECONFIG`` in the environment names a file that does not exist: only the flags can reach the cluster, and
the namespace the commands default to must be the chosen context's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from progressive.commands._connection import child_environment
from tests.commands._cluster import REPO
from tests.support.cluster.access import Cluster

CLUSTER_COMMANDS = ["apply", "start", "status", "approve", "abort", "run"]


@pytest.mark.parametrize("command", CLUSTER_COMMANDS)
def test_every_cluster_command_takes_kubeconfig_and_context(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "progressive.cli", command, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--kubeconfig PATH" in result.stdout and "--context NAME" in result.stdout


def two_contexts(cluster: Cluster, folder: Path) -> Path:
    """The cluster's kubeconfig, with its context renamed ``real`` (namespace set) and a current ``broken`` one."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text(encoding="utf-8"))
    real = config["contexts"][0]
    real["name"] = "real"
    real["context"]["namespace"] = cluster.namespace
    config["clusters"].append({"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}})
    config["contexts"].append({"name": "broken", "context": {"cluster": "nowhere", "user": real["context"]["user"]}})
    config["current-context"] = "broken"
    path = folder / "two-contexts.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def progressive(*args: str, env: dict[str, str] | None = None, folder: Path) -> subprocess.CompletedProcess[str]:
    environment = env or {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(folder / "missing.yaml"), "HOME": str(folder)}
    return subprocess.run(
        [sys.executable, "-m", "progressive.cli", *args, "--api-timeout", "3s"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["status", "approve", "abort"])
def test_the_flags_choose_the_cluster_and_the_namespace(cluster: Cluster, tmp_path: Path, command: str) -> None:
    kubeconfig = two_contexts(cluster, tmp_path)
    chosen = progressive(command, "nope", "--kubeconfig", str(kubeconfig), "--context", "real", folder=tmp_path)
    assert chosen.returncode == 3, chosen.stderr  # reached the cluster: the rollout does not exist there
    assert f"rollout {cluster.namespace}/nope" in chosen.stderr
    current = progressive(command, "nope", "--kubeconfig", str(kubeconfig), folder=tmp_path)
    assert current.returncode == 5, current.stderr  # the current context, broken, cannot be reached
    assert "Traceback" not in current.stderr


def test_a_context_the_kubeconfig_lacks_is_one_line(cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = two_contexts(cluster, tmp_path)
    result = progressive("status", "web", "--kubeconfig", str(kubeconfig), "--context", "prod", folder=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"progressive status: --context: 'prod' is not a context of {kubeconfig} (it has: real, broken)"
    ]
    missing = progressive("status", "web", "--kubeconfig", str(tmp_path / "nope.yaml"), folder=tmp_path)
    assert missing.returncode == 2
    assert f"--kubeconfig: '{tmp_path / 'nope.yaml'}' is not a file" in missing.stderr


def test_the_steps_of_progressive_run_get_the_chosen_context(cluster: Cluster, tmp_path: Path) -> None:
    """``progressive run`` hands its child processes an environment that picks the same context."""
    kubeconfig = two_contexts(cluster, tmp_path)
    args = argparse.Namespace(kubeconfig=str(kubeconfig), context="real")
    env = child_environment(args, tmp_path)
    result = progressive("status", "nope", env=env, folder=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"rollout {cluster.namespace}/nope" in result.stderr

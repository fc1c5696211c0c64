"""One run at a time per rollout, on the real API server: the Lease, its expiry, ``progressive unlock``.

Steps run in-process (``progressive.step.cli.main``, the container's entry point) against the local cluster with
the admin's kubeconfig; ``pause --duration=0s`` is the cheapest step that belongs to a run and writes the state
record, ``report`` the ``finally`` step that releases. Two concurrent Tekton runs are in tests/e2e/test_one_run.py.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from progressive.kube.leases import micro_now, parse_micro
from progressive.step import run_lock
from progressive.step.run_lock import LEASE_SECONDS
from tests.step.stepcli import StepRun, argv, run_step
from tests.support.cluster.access import Cluster

ROLLOUT = "shop"
LEASE = ("coordination.k8s.io/v1", "Lease", "progressive-shop")


def pause(capsys: pytest.CaptureFixture[str], namespace: str, run_id: str) -> StepRun:
    return run_step(
        capsys,
        *argv("pause", namespace=namespace, rollout=ROLLOUT, run_id=run_id, stage="hold", duration="0s"),
    )


def report(capsys: pytest.CaptureFixture[str], namespace: str, run_id: str, status: str) -> StepRun:
    return run_step(
        capsys,
        *argv("report", namespace=namespace, rollout=ROLLOUT, run_id=run_id, status=status, rollback_wait="0s"),
    )


def lease_spec(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.must_get(*LEASE)["spec"])


def record(cluster: Cluster) -> str:
    configmap = cluster.must_get("v1", "ConfigMap", "progressive-shop")
    return str(next(iter(configmap["data"].values())))


def unlock(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBERNETES_")}
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    command = [str(Path(sys.executable).parent / "progressive"), "unlock", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_second_run_is_refused_and_its_finally_changes_nothing(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster_env.namespace
    first = pause(capsys, namespace, "run-a")
    assert first.code == 0, (first.lines, first.stderr)
    held = lease_spec(cluster_env)
    assert held["holderIdentity"] == "run-a" and held["leaseDurationSeconds"] == LEASE_SECONDS
    before = record(cluster_env)

    second = pause(capsys, namespace, "run-b")
    assert second.code == 7, (second.lines, second.stderr)
    assert "run run-a" in second.last["error"] and held["acquireTime"] in second.last["error"]
    assert "this run changed nothing" in second.last["error"]
    assert record(cluster_env) == before and lease_spec(cluster_env)["holderIdentity"] == "run-a"

    # the refused run's finally: says who holds the rollout, touches nothing, does not release
    refused_report = report(capsys, namespace, "run-b", "Failed")
    assert refused_report.code == 0 and refused_report.last["changed"] is False
    assert "run run-a holds the rollout since" in refused_report.last["message"]
    assert record(cluster_env) == before and lease_spec(cluster_env)["holderIdentity"] == "run-a"

    # the holder's report releases; then the next run may start
    done = report(capsys, namespace, "run-a", "Succeeded")
    assert done.code == 0 and "released Lease" in done.stderr
    assert "holderIdentity" not in lease_spec(cluster_env)
    again = pause(capsys, namespace, "run-b")
    assert again.code == 0, (again.lines, again.stderr)
    assert lease_spec(cluster_env)["holderIdentity"] == "run-b"


def test_an_expired_lease_is_taken_over_naming_whose_it_was(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster_env.namespace
    long_ago = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=LEASE_SECONDS + 5)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    cluster_env.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "progressive-shop"},
            "spec": {
                "holderIdentity": "crashed-run",
                "leaseDurationSeconds": LEASE_SECONDS,
                "acquireTime": long_ago,
                "renewTime": long_ago,
                "leaseTransitions": 0,
            },
        }
    )
    taken = pause(capsys, namespace, "run-c")
    assert taken.code == 0, (taken.lines, taken.stderr)
    (note,) = taken.with_key("taken_over")
    assert note["taken_over"] == "crashed-run" and long_ago in note["message"]
    spec = lease_spec(cluster_env)
    assert spec["holderIdentity"] == "run-c" and spec["leaseTransitions"] == 1


def test_a_lease_renewed_just_now_is_not_taken_over(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """The other side of expiry: the same Lease, renewed a second ago, still refuses."""
    stamp = micro_now()
    cluster_env.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "progressive-shop"},
            "spec": {"holderIdentity": "live-run", "leaseDurationSeconds": LEASE_SECONDS, "renewTime": stamp},
        }
    )
    refused = pause(capsys, cluster_env.namespace, "run-d")
    assert refused.code == 7 and "run live-run" in refused.last["error"]


def test_unlock_frees_a_held_rollout_and_says_what_it_overrides(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cluster_env.namespace
    missing = unlock(cluster_env, ROLLOUT, "-n", namespace)
    assert missing.returncode == 3 and "no run has held it" in missing.stderr

    assert pause(capsys, namespace, "run-a").code == 0
    since = lease_spec(cluster_env)["acquireTime"]
    done = unlock(cluster_env, ROLLOUT, "-n", namespace, "--by", "ops")
    assert done.returncode == 0, done.stderr
    assert f"unlocked by ops; run run-a held it since {since}" in done.stdout
    assert "a new run may now change the canary and the traffic" in done.stdout
    assert "holderIdentity" not in lease_spec(cluster_env)

    twice = unlock(cluster_env, ROLLOUT, "-n", namespace)
    assert twice.returncode == 0 and "not held by any run" in twice.stdout
    assert pause(capsys, namespace, "run-b").code == 0
    assert lease_spec(cluster_env)["holderIdentity"] == "run-b"


def test_the_lease_of_a_finished_pipelinerun_is_taken_over_before_it_expires(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run cancelled without ``finally`` never releases; its PipelineRun says it is over, so the next run goes on."""
    (gone,) = cluster_env.create(
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"generateName": "shop-"},
            "spec": {"pipelineRef": {"name": "no-such-pipeline"}},
        }
    )
    name = gone["metadata"]["name"]

    def ended() -> bool:
        run = cluster_env.must_get("tekton.dev/v1", "PipelineRun", name)
        conditions = (run.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Succeeded" and c["status"] == "False" for c in conditions)

    cluster_env.wait_for(f"Tekton to fail PipelineRun {name}", ended, timeout=60)
    cluster_env.create(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "progressive-shop"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_now()},
        }
    )
    taken = pause(capsys, cluster_env.namespace, "run-e")
    assert taken.code == 0, (taken.lines, taken.stderr)
    (note,) = taken.with_key("taken_over")
    assert note["taken_over"] == name and f"PipelineRun {name} ended" in note["message"]
    assert lease_spec(cluster_env)["holderIdentity"] == "run-e"


def test_a_running_step_renews_its_lease(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long wait keeps the Lease: the step renews it while it runs (here every 0.5 s instead of 30 s)."""
    monkeypatch.setattr(run_lock, "RENEW_SECONDS", 0.5)
    held = run_step(
        capsys,
        *argv("pause", namespace=cluster_env.namespace, rollout=ROLLOUT, run_id="run-f", stage="hold", duration="3s"),
    )
    assert held.code == 0, (held.lines, held.stderr)
    spec = lease_spec(cluster_env)
    acquired, renewed = parse_micro(spec["acquireTime"]), parse_micro(spec["renewTime"])
    assert acquired is not None and renewed is not None and renewed - acquired >= 2.0, spec

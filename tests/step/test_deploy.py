"""``progressive step deploy`` on the real cluster: the controller manager rolls the canary out, kwok runs its pods.

Broken rollouts are made the way they happen: pods whose images cannot be pulled (kwok's ``image-pull-backoff``
label, reported as a kubelet does), pods the real scheduler cannot place (a CPU request no node has), pods that
never start (``never-ready``), and crash-looping containers (``crash-loop``). The Deployment's own
``progressDeadlineSeconds`` makes the real controller report ``ProgressDeadlineExceeded``, which the step must take
as the end of the wait.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from progressive.errors import UsageError
from progressive.state import CONFIGMAP_KEY
from progressive.step.deploy import parse_images
from tests.routers.routing_support import (
    CRASH_LOOP,
    IMAGE_PULL_BACKOFF,
    NEVER_READY,
    deployments,
    install_deployments,
    with_pod_labels,
)
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy

NEW_IMAGE = "registry.example.com/storefront:1.5.0"


def deploy(namespace: str, *extra: str, images: str = f"app={NEW_IMAGE}") -> list[str]:
    return [
        "deploy",
        f"--namespace={namespace}",
        "--rollout=storefront",
        "--run-id=run-7",
        "--stage=deploy",
        "--stable-deployment=storefront",
        "--canary-deployment=storefront-canary",
        f"--images={images}",
        "--progress-deadline=60s",
        *extra,
    ]


def canary(cluster: Cluster) -> dict[str, Any]:
    return cluster.must_get("apps/v1", "Deployment", "storefront-canary")


def state(cluster: Cluster) -> dict[str, Any]:
    cm = cluster.must_get("v1", "ConfigMap", "progressive-storefront")
    loaded: dict[str, Any] = json.loads(cm["data"][CONFIGMAP_KEY])
    return loaded


def failing_canary(**pod_labels: str) -> dict[str, Any]:
    """The fixture's canary, its pods labelled for kwok; the controller gives up on it after 3 s without progress."""
    _stable, fixture = deployments()
    broken = with_pod_labels(fixture, **pod_labels)
    broken["spec"]["progressDeadlineSeconds"] = 3
    return broken


@pytest.fixture
def workload(cluster: Cluster) -> Cluster:
    install_deployments(cluster)
    return cluster


def test_sets_images_and_scales_like_stable(
    workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_step(capsys, *deploy(workload.namespace))
    assert result.code == 0, result.lines
    assert result.last["event"] == "CanaryDeployed"
    assert (result.last["replicas"], result.last["changed"]) == (10, True)
    deployed = canary(workload)
    spec = deployed["spec"]
    assert spec["replicas"] == 10
    assert [c["image"] for c in spec["template"]["spec"]["containers"]] == [NEW_IMAGE, "envoyproxy/envoy:v1.30.0"]
    # the step returned once the real rollout was done: every replica of the new template ready
    status = deployed["status"]
    assert status["observedGeneration"] == deployed["metadata"]["generation"]
    assert (status["updatedReplicas"], status["availableReplicas"]) == (10, 10)
    recorded = state(workload)
    assert (recorded["run_id"], recorded["phase"], recorded["stable_replicas"]) == ("run-7", "deployed", 10)
    assert [e.name for e in api_proxy.log.writes() if e.resource == "deployments"] == ["storefront-canary"]

    api_proxy.log.clear()
    again = run_step(capsys, *deploy(workload.namespace))
    assert again.code == 0 and again.last["changed"] is False
    assert [e for e in api_proxy.log.writes() if e.resource == "deployments"] == []
    assert canary(workload)["metadata"]["generation"] == deployed["metadata"]["generation"]


def test_replicas_flag_and_several_images(
    workload: Cluster, cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    images = f"app={NEW_IMAGE},envoy=envoyproxy/envoy:v1.31.0"
    result = run_step(capsys, *deploy(workload.namespace, "--replicas=3", images=images))
    assert result.code == 0, result.lines
    deployed = canary(workload)
    assert deployed["spec"]["replicas"] == 3
    assert [c["image"] for c in deployed["spec"]["template"]["spec"]["containers"]] == [
        NEW_IMAGE,
        "envoyproxy/envoy:v1.31.0",
    ]
    assert deployed["status"]["availableReplicas"] == 3


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (NEW_IMAGE, "has 2 containers (app, envoy); name each one"),
        ("sidecar=busybox:1", "has no container 'sidecar'; its containers: app, envoy"),
    ],
)
def test_container_mistakes_exit_2_before_any_write(
    images: str, message: str, workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = canary(workload)
    result = run_step(capsys, *deploy(workload.namespace, images=images))
    assert result.code == 2
    assert message in result.last["error"]
    assert api_proxy.log.find(verb="get", resource="deployments", name="storefront-canary")
    # the run's Lease (progressive.step.run_lock) is taken before the command checks its flags
    assert [e.resource for e in api_proxy.log.writes() if e.resource != "leases"] in ([], ["events"])
    assert canary(workload)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx:1.27", {"": "nginx:1.27"}),
        ("app=r.io/a@sha256:abc,side=b:2", {"app": "r.io/a@sha256:abc", "side": "b:2"}),
    ],
)
def test_parse_images(text: str, expected: dict[str, str]) -> None:
    assert parse_images(text) == expected


@pytest.mark.parametrize("text", ["", "a b", "a:1,b:2", "app=", "App=x:1", "app=x:1,app=y:2", "app=x=1"])
def test_parse_images_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--images: "):
        parse_images(text)


def test_bad_replicas_flag(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *deploy(cluster_env.namespace, "--replicas=-1"))
    assert result.code == 2 and "--replicas: -1 is below 0" in result.last["error"]


def _unschedulable(deployment: dict[str, Any]) -> dict[str, Any]:
    """The canary asking for more CPU than any node has: the real scheduler cannot place its pods."""
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "5000"}}
    return deployment


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("ImagePullBackOff", re.escape(f"container app: ImagePullBackOff for image {NEW_IMAGE} (Back-off pulling")),
        ("CrashLoopBackOff", re.escape("container app: CrashLoopBackOff, restarted 3 times, last exit code 1 (Error)")),
        ("Unschedulable", r"Unschedulable \(0/\d+ nodes are available: .*Insufficient cpu"),
    ],
)
def test_failure_reports_what_the_pods_say(
    failure: str, expected: str, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    stable, _canary = deployments()
    broken = {
        "ImagePullBackOff": lambda: failing_canary(**{IMAGE_PULL_BACKOFF: "true"}),
        "CrashLoopBackOff": lambda: failing_canary(**{CRASH_LOOP: "true"}),
        "Unschedulable": lambda: _unschedulable(failing_canary()),
    }[failure]()
    install_deployments(cluster, stable, broken, wait=False)  # the stable need not run for a deploy
    result = run_step(capsys, *deploy(cluster.namespace))
    assert result.code == 6, result.lines
    error = result.last["error"]
    # the controller's verdict ended the wait, not the step's own 60 s deadline
    assert f"Deployment {cluster.namespace}/storefront-canary exceeded its progress deadline" in error, error
    assert "has timed out progressing" in error, error
    assert re.search(expected, error), error
    assert "10 pods (e.g. storefront-canary-" in error
    assert state(cluster)["phase"] == "deploying"


def test_unavailable_without_reason_times_out_naming_the_deadline(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    stable, fixture = deployments()
    install_deployments(cluster, stable, with_pod_labels(fixture, **{NEVER_READY: "true"}), wait=False)
    args = [
        a if not a.startswith("--progress-deadline=") else "--progress-deadline=3s" for a in deploy(cluster.namespace)
    ]
    result = run_step(capsys, *args)
    assert result.code == 6
    error = result.last["error"]
    assert "still waiting after --progress-deadline=3s: 0 of 10 updated replicas available" in error, error
    assert error.endswith("no pod reports a reason"), error


def test_missing_canary_exits_3(cluster_env: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    install_deployments(cluster_env, deployments()[0], wait=False)
    result = run_step(capsys, *[a.replace("storefront-canary", "ghost") for a in deploy(cluster_env.namespace)])
    assert result.code == 3
    assert result.last["error"] == (
        f"preflight failed, nothing was changed: deployments: Deployment {cluster_env.namespace}/ghost not found"
    )


def test_a_rerun_after_this_run_moved_traffic_writes_nothing(
    workload: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retried stage pod runs its deploy step again after the weight change: it must not touch the canary
    (here ``--replicas=0``, the replica ratio's deploy, would take the canary's 10% of the pods away)."""
    first = run_step(capsys, *deploy(workload.namespace))
    assert first.code == 0, first.lines
    recorded = state(workload) | {"canary_weight": 10, "phase": "progressing"}
    workload.patch("v1", "ConfigMap", "progressive-storefront", {"data": {CONFIGMAP_KEY: json.dumps(recorded)}})
    generation = canary(workload)["metadata"]["generation"]
    api_proxy.log.clear()
    again = run_step(capsys, *deploy(workload.namespace, "--replicas=0"))
    assert again.code == 0, again.lines
    assert again.last == {"action": "deploy", "changed": False, "resumed": True, "weight": 10}
    assert [e for e in api_proxy.log.writes() if e.resource == "deployments"] == []
    assert canary(workload)["metadata"]["generation"] == generation and canary(workload)["spec"]["replicas"] == 10

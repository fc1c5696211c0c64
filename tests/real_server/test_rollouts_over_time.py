"""Deployments roll out over time on a real cluster: promote and rollback wait for the whole rollout.

The real Deployment controller records ``observedGeneration`` at once, then replaces pods a few at a time
(``maxSurge`` and ``maxUnavailable``, 25% each here): for a while old and new pods both serve, ``updatedReplicas``
is below ``replicas`` and old pods still count as available. kwok makes each new pod ready only after a delay
(``pod-ready.stage.kwok.x-k8s.io/delay`` on the pod template), so that window lasts seconds. A step that trusted
``availableReplicas`` alone, or ``observedGeneration``, would move traffic onto a half-rolled-out stable. Each test
records the Deployment's status during the step (a real watch) to show the rollout was partial for a while, and
checks that the step returned only once it was complete: every replica updated and available, no old pod left.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.real_server._world import web
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.recorder import ObjectRecorder

NEW_IMAGE = "registry.example.com/web:2.0"
SLOW_READY = {"pod-ready.stage.kwok.x-k8s.io/delay": "700ms", "pod-ready.stage.kwok.x-k8s.io/jitter-delay": "1s"}

Obj = dict[str, Any]


def _progress(versions: list[Obj]) -> list[tuple[int, int, int]]:
    """``(updated, replicas, available)`` of each recorded version of a Deployment."""
    return [
        (v["status"].get("updatedReplicas", 0), v["status"].get("replicas", 0), v["status"].get("availableReplicas", 0))
        for v in versions
        if "status" in v
    ]


def _flags(cluster: Cluster, **extra: str) -> list[str]:
    values = {
        "namespace": cluster.namespace,
        "rollout": "web",
        "run-id": "run-1",
        "router": "gateway-api",
        "name": "web",
        "stable": "web",
        "canary": "web-canary",
        "stable-deployment": "web",
        "canary-deployment": "web-canary",
        "progress-deadline": "90s",
        "accepted-timeout": "20s",
        **extra,
    }
    return [f"--{key}={value}" for key, value in values.items()]


def _deploy_slow_canary(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    """The canary runs the new image with pods that take ~1 s to become ready (promote copies that template)."""
    cluster.patch(
        "apps/v1", "Deployment", "web-canary", {"spec": {"template": {"metadata": {"annotations": SLOW_READY}}}}
    )
    deployed = run_step(
        capsys,
        "deploy",
        f"--namespace={cluster.namespace}",
        "--rollout=web",
        "--run-id=run-1",
        "--stage=deploy",
        "--stable-deployment=web",
        "--canary-deployment=web-canary",
        f"--images={NEW_IMAGE}",
        "--progress-deadline=90s",
    )
    assert deployed.code == 0, deployed.lines


def _completely_rolled_out(deployment: Obj, image: str) -> None:
    status = deployment["status"]
    replicas = deployment["spec"]["replicas"]
    assert status["observedGeneration"] == deployment["metadata"]["generation"], status
    assert (status["updatedReplicas"], status["replicas"], status.get("availableReplicas")) == (replicas,) * 3, status
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


def _was_partial(seen: list[tuple[int, int, int]], replicas: int) -> bool:
    """Some moment had new pods missing or old pods still there."""
    return any(updated < replicas or total > updated for updated, total, _available in seen)


def test_promote_waits_until_every_stable_pod_runs_the_new_template(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    web(cluster)
    _deploy_slow_canary(cluster, capsys)
    recorder = ObjectRecorder(cluster, "apps/v1", "Deployment", "web")
    promoted = run_step(capsys, "promote", *_flags(cluster, stage="promote"))
    stable = cluster.must_get("apps/v1", "Deployment", "web")  # read the instant the step returned
    seen = _progress(recorder.stop())
    assert promoted.code == 0, promoted.lines
    _completely_rolled_out(stable, NEW_IMAGE)
    assert _was_partial(seen, 4), seen  # the real controller did take its time


def test_rollback_of_an_interrupted_promotion_waits_for_the_old_template_everywhere(
    cluster_env: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    web(cluster)
    old_image = cluster.must_get("apps/v1", "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]["image"]
    _deploy_slow_canary(cluster, capsys)
    # promote gives up on the stable's rollout after 1 s: exit 8, traffic not moved, the stable half rolled out
    interrupted = run_step(capsys, "promote", *_flags(cluster, stage="promote", **{"progress-deadline": "1s"}))
    assert interrupted.code == 8, interrupted.lines
    recorder = ObjectRecorder(cluster, "apps/v1", "Deployment", "web")
    rolled_back = run_step(capsys, "rollback", *_flags(cluster, stage="rollback"))
    stable = cluster.must_get("apps/v1", "Deployment", "web")
    seen = _progress(recorder.stop())
    assert rolled_back.code == 0, rolled_back.lines
    assert any(line.get("restored") for line in rolled_back.lines), rolled_back.lines  # the promotion was undone
    _completely_rolled_out(stable, old_image)
    assert _was_partial(seen, 4), seen

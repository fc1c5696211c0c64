"""``progressive step deploy`` against the in-repo API server with its simulated Deployment controller."""

from __future__ import annotations

import json
from typing import Any

import pytest

from progressive.errors import UsageError
from progressive.state import CONFIGMAP_KEY
from progressive.step.deploy import parse_images
from tests.routers.routing_support import load_all
from tests.step.stepcli import run_step
from tests.support.kubeapi import Kube


def deploy(*extra: str, images: str = "app=registry.example.com/storefront:1.5.0") -> list[str]:
    return [
        "deploy",
        "--namespace=shop",
        "--rollout=storefront",
        "--run-id=run-7",
        "--stage=deploy",
        "--stable-deployment=storefront",
        "--canary-deployment=storefront-canary",
        f"--images={images}",
        "--progress-deadline=5s",
        *extra,
    ]


def canary(kube: Kube) -> dict[str, Any]:
    obj = kube.raw("apps/v1", "Deployment", "storefront-canary", "shop")
    assert obj is not None
    return obj


def state(kube: Kube) -> dict[str, Any]:
    cm = kube.raw("v1", "ConfigMap", "progressive-storefront", "shop")
    assert cm is not None
    loaded: dict[str, Any] = json.loads(cm["data"][CONFIGMAP_KEY])
    return loaded


@pytest.fixture
def cluster(kube_env: Kube) -> Kube:
    kube_env.seed(*load_all("deployments.yaml"))
    kube_env.controllers.deployments.enable(delay=0.05)
    return kube_env


def test_sets_images_and_scales_like_stable(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *deploy())
    assert result.code == 0, result.lines
    assert result.last["event"] == "CanaryDeployed"
    assert (result.last["replicas"], result.last["changed"]) == (10, True)
    spec = canary(cluster)["spec"]
    assert spec["replicas"] == 10
    assert [c["image"] for c in spec["template"]["spec"]["containers"]] == [
        "registry.example.com/storefront:1.5.0",
        "envoyproxy/envoy:v1.30.0",
    ]
    assert canary(cluster)["status"]["availableReplicas"] == 10
    recorded = state(cluster)
    assert (recorded["run_id"], recorded["phase"], recorded["stable_replicas"]) == ("run-7", "deployed", 10)
    again = run_step(capsys, *deploy())
    assert again.code == 0 and again.last["changed"] is False


def test_replicas_flag_and_several_images(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    images = "app=registry.example.com/storefront:1.5.0,envoy=envoyproxy/envoy:v1.31.0"
    result = run_step(capsys, *deploy("--replicas=3", images=images))
    assert result.code == 0
    spec = canary(cluster)["spec"]
    assert spec["replicas"] == 3
    assert [c["image"] for c in spec["template"]["spec"]["containers"]] == images.replace("app=", "").replace(
        "envoy=", ""
    ).split(",")


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ("registry.example.com/storefront:1.5.0", "has 2 containers (app, envoy); name each one"),
        ("sidecar=busybox:1", "has no container 'sidecar'; its containers: app, envoy"),
    ],
)
def test_container_mistakes_exit_2_before_any_write(
    images: str, message: str, cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.controllers.settle()
    cluster.log.clear()
    result = run_step(capsys, *deploy(images=images))
    assert result.code == 2
    assert message in result.last["error"]
    assert [e.resource for e in cluster.log.writes()] in ([], ["events"])


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


def test_bad_replicas_flag(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *deploy("--replicas=-1"))
    assert result.code == 2 and "--replicas: -1 is below 0" in result.last["error"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("ImagePullBackOff", "ImagePullBackOff for image registry.example.com/storefront:1.5.0 (Back-off pulling"),
        ("CrashLoopBackOff", "CrashLoopBackOff, restarted 3 times, last exit code 1 (Error)"),
        ("Unschedulable", "Unschedulable (0/3 nodes are available: 3 Insufficient cpu.)"),
    ],
)
def test_failure_reports_what_the_pods_say(
    failure: str, expected: str, cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.controllers.deployments.behave("storefront-canary", namespace="shop", failure=failure, deadline_after=0.3)
    result = run_step(capsys, *deploy())
    assert result.code == 6, result.lines
    error = result.last["error"]
    assert "Deployment shop/storefront-canary" in error
    assert expected in error, error
    assert "10 pods (e.g. storefront-canary-" in error


def test_unavailable_without_reason_times_out_naming_the_deadline(
    cluster: Kube, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.controllers.deployments.behave("storefront-canary", namespace="shop", unavailable=True)
    result = run_step(capsys, *deploy("--progress-deadline=1s"))
    assert result.code == 6
    assert "still waiting after --progress-deadline=1s: 0 of 10 updated replicas available" in result.last["error"]


def test_missing_canary_exits_3(cluster: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *[a.replace("storefront-canary", "ghost") for a in deploy()])
    assert result.code == 3
    assert result.last["error"] == "Deployment shop/ghost not found"

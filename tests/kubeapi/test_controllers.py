"""Simulated controllers: Deployments (ReplicaSets, Pods, status), Gateway route status, the generic hook."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, model, obj
from tests.support.kubeapi import DeploymentBehavior, Kube
from tests.support.kubeapi.store import WriteEvent


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def _deployment(kube: Kube, name: str = "web") -> dict[str, Any]:
    found = kube.raw("apps/v1", "Deployment", name)
    assert found is not None
    return found


def test_controllers_are_off_by_default(kube: Kube) -> None:
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", model(client.V1Deployment, deployment("web", replicas=2)))
    kube.controllers.settle()
    assert _deployment(kube)["status"] == {}
    assert kube.list("v1", "Pod") == []


def test_a_healthy_rollout_creates_pods_and_reports_available(kube: Kube) -> None:
    kube.controllers.deployments.enable()
    api = kube.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment("default", model(client.V1Deployment, deployment("web", replicas=3)))
    kube.controllers.settle()
    status = _deployment(kube)["status"]
    assert {
        k: status.get(k)
        for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    conditions = _conditions(status)
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    pods = core.list_namespaced_pod("default", label_selector="app=web,track=stable").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status is not None and pod.status.phase == "Running"
        assert pod.metadata is not None and pod.metadata.labels is not None
        assert pod.metadata.labels["pod-template-hash"]
        assert all(c.ready for c in pod.status.container_statuses or [])
    (rs,) = apps.list_namespaced_replica_set("default").items
    assert rs.metadata is not None and rs.metadata.owner_references is not None
    assert rs.metadata.owner_references[0].name == "web"


def test_a_new_template_replaces_the_pods_and_scaling_to_zero_removes_them(kube: Kube) -> None:
    kube.controllers.deployments.enable()
    kube.seed(deployment("web", replicas=2))
    kube.controllers.settle()
    apps, core = client.AppsV1Api(kube.api_client()), client.CoreV1Api(kube.api_client())
    old_pods = {p.metadata.name for p in core.list_namespaced_pod("default").items if p.metadata}
    apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    )
    kube.controllers.settle()
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 2
    assert not old_pods & {p.metadata.name for p in pods if p.metadata}
    assert all(p.spec is not None and p.spec.containers[0].image == "app:2" for p in pods)
    assert _deployment(kube)["status"]["observedGeneration"] == 2
    replica_sets = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in kube.list("apps/v1", "ReplicaSet")}
    assert sorted(replica_sets.values()) == [0, 2]
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    kube.controllers.settle()
    assert kube.list("v1", "Pod") == []
    status = _deployment(kube)["status"]
    assert "replicas" not in status and "availableReplicas" not in status
    assert _conditions(status)["Available"]["status"] == "True"


def test_the_controller_reacts_after_its_delay(kube: Kube) -> None:
    kube.controllers.deployments.enable(delay=0.3)
    apps = client.AppsV1Api(kube.api_client())
    apps.create_namespaced_deployment("default", model(client.V1Deployment, deployment("web")))
    assert _deployment(kube)["status"] == {}
    kube.controllers.settle()
    assert _deployment(kube)["status"]["observedGeneration"] == 1


@pytest.mark.parametrize(
    ("failure", "phase", "reason"),
    [
        ("ImagePullBackOff", "Pending", "ImagePullBackOff"),
        ("ErrImagePull", "Pending", "ErrImagePull"),
        ("CrashLoopBackOff", "Running", "CrashLoopBackOff"),
    ],
)
def test_failing_pods_report_their_reason_and_the_deployment_stays_unavailable(
    kube: Kube, failure: Any, phase: str, reason: str
) -> None:
    kube.controllers.deployments.enable()
    kube.controllers.deployments.behave("web", failure=failure)
    kube.seed(deployment("web", image="app:broken", replicas=2))
    kube.controllers.settle()
    status = _deployment(kube)["status"]
    assert status["unavailableReplicas"] == 2 and "availableReplicas" not in status
    conditions = _conditions(status)
    assert (conditions["Available"]["status"], conditions["Available"]["reason"]) == (
        "False",
        "MinimumReplicasUnavailable",
    )
    assert conditions["Progressing"]["status"] == "True"
    pods = client.CoreV1Api(kube.api_client()).list_namespaced_pod("default", label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.status is not None and pod.status.phase == phase
        app = (pod.status.container_statuses or [])[0]
        assert app.state is not None and app.state.waiting is not None
        assert app.state.waiting.reason == reason
        assert app.ready is False
        if failure == "CrashLoopBackOff":
            assert app.last_state is not None and app.last_state.terminated is not None
            assert app.last_state.terminated.exit_code == 1
        else:
            assert "app:broken" in (app.state.waiting.message or "")


def test_the_progress_deadline_turns_progressing_false(kube: Kube) -> None:
    kube.controllers.deployments.enable()
    kube.controllers.deployments.behave("web", DeploymentBehavior(failure="ImagePullBackOff", deadline_after=0.1))
    kube.seed(deployment("web"))
    kube.controllers.settle()
    progressing = _conditions(_deployment(kube)["status"])["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")


def test_unschedulable_and_unavailable_pods(kube: Kube) -> None:
    kube.controllers.deployments.enable()
    kube.controllers.deployments.behave("web", failure="Unschedulable")
    kube.controllers.deployments.behave("api", unavailable=True)
    kube.seed(deployment("web"), deployment("api"))
    kube.controllers.settle()
    pods = {p["metadata"]["labels"]["app"]: p for p in kube.list("v1", "Pod")}
    scheduled = _conditions(pods["web"]["status"])["PodScheduled"]
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    ready = _conditions(pods["api"]["status"])["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ContainersNotReady")
    assert _conditions(_deployment(kube, "api")["status"])["Available"]["status"] == "False"


def test_deleting_a_deployment_collects_its_replica_sets_and_pods(kube: Kube) -> None:
    kube.controllers.deployments.enable()
    kube.seed(deployment("web", replicas=2), deployment("keep"))
    kube.controllers.settle()
    client.AppsV1Api(kube.api_client()).delete_namespaced_deployment("web", "default")
    kube.controllers.settle()
    assert [p["metadata"]["labels"]["app"] for p in kube.list("v1", "Pod")] == ["keep"]
    assert len(kube.list("apps/v1", "ReplicaSet")) == 1


def test_route_status_reports_accepted_at_the_current_generation(kube: Kube) -> None:
    kube.controllers.routes.enable()
    route = http_route("web")
    route["status"] = {
        "parents": [{"parentRef": {"name": "mesh"}, "controllerName": "other.io/mesh", "conditions": []}]
    }
    kube.seed(route)
    kube.controllers.settle()
    api = client.CustomObjectsApi(kube.api_client())
    api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web", {"spec": {"hostnames": ["a"]}})
    kube.controllers.settle()
    current = obj(api.get_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web"))
    assert current["metadata"]["generation"] == 2
    other, mine = current["status"]["parents"]
    assert other["controllerName"] == "other.io/mesh"
    assert mine["parentRef"] == {"name": "gateway", "namespace": "infra"}
    accepted = _conditions(mine)["Accepted"]
    assert (accepted["status"], accepted["reason"], accepted["observedGeneration"]) == ("True", "Accepted", 2)


def test_route_status_can_refuse_or_never_answer(kube: Kube) -> None:
    kube.controllers.routes.enable(accepted=False, reason="NotAllowedByListeners")
    kube.controllers.routes.behave("silent", accepted=None)
    kube.seed(http_route("refused"), http_route("silent"))
    kube.controllers.settle()
    refused = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "refused")
    assert refused is not None
    accepted = _conditions(refused["status"]["parents"][0])["Accepted"]
    assert (accepted["status"], accepted["reason"]) == ("False", "NotAllowedByListeners")
    silent = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "silent")
    assert silent is not None and "status" not in silent


def test_route_status_waits_for_its_delay(kube: Kube) -> None:
    kube.controllers.routes.enable(delay=0.3)
    kube.seed(http_route("web"))
    first = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "web")
    assert first is not None and "status" not in first
    kube.controllers.settle()
    route = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "web")
    assert route is not None and route["status"]["parents"]


def test_a_test_hook_acts_as_a_controller_and_its_errors_surface_in_settle(kube: Kube) -> None:
    seen: list[str] = []

    def tekton(event: WriteEvent) -> None:
        meta = event.object["metadata"]
        if event.type == "ADDED":
            seen.append(meta["name"])
            kube.set_status(
                "tekton.dev/v1",
                "PipelineRun",
                meta["name"],
                {"conditions": [{"type": "Succeeded", "status": "Unknown"}]},
            )

    kube.controllers.on_write("tekton.dev", "PipelineRun", tekton)
    api = client.CustomObjectsApi(kube.api_client())
    body = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "run-"}, "spec": {}}
    made = obj(api.create_namespaced_custom_object("tekton.dev", "v1", "default", "pipelineruns", body))
    kube.controllers.settle()
    assert seen == [made["metadata"]["name"]]
    run = obj(api.get_namespaced_custom_object("tekton.dev", "v1", "default", "pipelineruns", made["metadata"]["name"]))
    assert run["status"]["conditions"][0]["status"] == "Unknown"

    def broken(event: WriteEvent) -> None:
        raise ValueError(f"cannot handle {event.object['metadata']['name']}")

    kube.controllers.on_write("", "ConfigMap", broken)
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    with pytest.raises(RuntimeError, match="cannot handle c"):
        kube.controllers.settle()

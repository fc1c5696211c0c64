"""resourceVersion conflicts, no-op writes, generation, the status and scale subresources, concurrency."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, model, obj, status
from tests.support.kubeapi import Kube

ROUTE = f"{GATEWAY}/v1"


def test_put_with_a_stale_resource_version_is_409_conflict(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    first = core.create_namespaced_config_map("default", model(client.V1ConfigMap, {"metadata": {"name": "c"}}))
    second = core.read_namespaced_config_map("c", "default")
    second.data = {"winner": "second"}
    core.replace_namespaced_config_map("c", "default", second)
    first.data = {"winner": "first"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", "default", first)
    assert err.value.status == 409
    assert status(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on configmaps "c": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "c", "kind": "configmaps"},
        "code": 409,
    }
    assert core.read_namespaced_config_map("c", "default").data == {"winner": "second"}


def test_put_without_resource_version_is_unconditional_for_builtins_but_invalid_for_custom_resources(
    kube: Kube,
) -> None:
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}, http_route("r"))
    core = client.CoreV1Api(kube.api_client())
    done = core.replace_namespaced_config_map(
        "c", "default", model(client.V1ConfigMap, {"metadata": {"name": "c"}, "data": {"a": "2"}})
    )
    assert done.data == {"a": "2"}
    custom = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        custom.replace_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "r", http_route("r"))
    assert err.value.status == 422
    assert status(err.value)["message"] == (
        'HTTPRoute.gateway.networking.k8s.io "r" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"
    )


def test_a_write_that_changes_nothing_keeps_the_resource_version(kube: Kube) -> None:
    (route,) = kube.seed(http_route("r"))
    api = client.CustomObjectsApi(kube.api_client())
    revision = kube.revision
    same = obj(api.replace_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "r", route))
    assert same["metadata"]["resourceVersion"] == route["metadata"]["resourceVersion"]
    # the same content in another key order is still no change
    reordered = {**route, "spec": dict(reversed(list(route["spec"].items())))}
    api.replace_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "r", reordered)
    api.patch_namespaced_custom_object(
        GATEWAY, "v1", "default", "httproutes", "r", {"spec": {"parentRefs": route["spec"]["parentRefs"]}}
    )
    assert kube.revision == revision
    assert kube.log.writes() == []


def test_generation_moves_only_when_something_outside_metadata_and_status_changes(kube: Kube) -> None:
    kube.seed(http_route("r"))
    api = client.CustomObjectsApi(kube.api_client())
    labelled = obj(
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "r", {"metadata": {"labels": {"a": "b"}}}
        )
    )
    assert labelled["metadata"]["generation"] == 1
    status_set = obj(
        api.patch_namespaced_custom_object_status(
            GATEWAY, "v1", "default", "httproutes", "r", {"status": {"parents": []}}
        )
    )
    assert status_set["metadata"]["generation"] == 1
    specced = obj(
        api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "r", {"spec": {"hostnames": ["x"]}})
    )
    assert specced["metadata"]["generation"] == 2


def test_main_resource_writes_keep_status_and_status_writes_change_only_status(kube: Kube) -> None:
    route = http_route("r")
    route["status"] = {"parents": [{"controllerName": "c", "conditions": []}]}
    kube.seed(route)
    api = client.CustomObjectsApi(kube.api_client())
    patched = obj(
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "r", {"spec": {"hostnames": ["x"]}, "status": {"parents": []}}
        )
    )
    assert patched["status"] == route["status"]
    assert patched["spec"]["hostnames"] == ["x"]
    via_status = obj(
        api.patch_namespaced_custom_object_status(
            GATEWAY, "v1", "default", "httproutes", "r", {"spec": {"hostnames": ["y"]}, "status": {"parents": []}}
        )
    )
    assert via_status["status"] == {"parents": []}
    assert via_status["spec"]["hostnames"] == ["x"]
    current = obj(api.get_namespaced_custom_object_status(GATEWAY, "v1", "default", "httproutes", "r"))
    current["status"] = {"parents": [{"controllerName": "d"}]}
    replaced = obj(api.replace_namespaced_custom_object_status(GATEWAY, "v1", "default", "httproutes", "r", current))
    assert replaced["status"]["parents"] == [{"controllerName": "d"}]
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_custom_object_status(GATEWAY, "v1", "default", "httproutes", "r", current)
    assert err.value.status == 409  # the status write carried a now stale resourceVersion


def test_creating_a_resource_with_a_status_subresource_drops_the_status(kube: Kube) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    route = http_route("r")
    route["status"] = {"parents": [{"controllerName": "forged"}]}
    made = obj(api.create_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", route))
    assert "status" not in made
    traefik = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": "t"},
        "status": {"x": 1},
    }
    kept = obj(api.create_namespaced_custom_object("traefik.io", "v1alpha1", "default", "traefikservices", traefik))
    assert kept["status"] == {"x": 1}  # no status subresource: status is an ordinary field


def test_subresources_that_do_not_exist_are_404(kube: Kube) -> None:
    kube.seed({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService", "metadata": {"name": "t"}})
    api = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        api.get_namespaced_custom_object_status("traefik.io", "v1alpha1", "default", "traefikservices", "t")
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        api.get_namespaced_custom_object_scale(GATEWAY, "v1", "default", "httproutes", "t")
    assert err.value.status == 404


def test_scale_subresource_reads_and_writes_spec_replicas_with_preconditions(kube: Kube) -> None:
    kube.seed(deployment("web", replicas=2))
    apps = client.AppsV1Api(kube.api_client())
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec is not None and scale.spec.replicas == 2
    assert scale.metadata is not None
    stale = scale.metadata.resource_version
    scale.spec.replicas = 4
    done = apps.replace_namespaced_deployment_scale("web", "default", scale)
    assert done.spec is not None and done.spec.replicas == 4
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment_scale(
            "web",
            "default",
            model(client.V1Scale, {"metadata": {"name": "web", "resourceVersion": stale}, "spec": {"replicas": 1}}),
        )
    assert err.value.status == 409
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": -1}})
    assert err.value.status == 422
    stored = kube.raw("apps/v1", "Deployment", "web")
    assert stored is not None
    assert stored["spec"]["replicas"] == 4
    assert stored["metadata"]["generation"] == 2
    assert [e.resource for e in kube.log.writes()] == ["deployments/scale"]


def test_concurrent_read_modify_write_loses_no_update(kube: Kube) -> None:
    kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "counter"}, "data": {"n": "0"}})
    workers, increments = 6, 15
    errors: list[BaseException] = []
    conflicts = [0]
    lock = threading.Lock()

    def work() -> None:
        core = client.CoreV1Api(kube.api_client())
        try:
            for _ in range(increments):
                while True:
                    current = core.read_namespaced_config_map("counter", "default")
                    data: dict[str, Any] = dict(current.data or {})
                    current.data = {"n": str(int(data["n"]) + 1)}
                    try:
                        core.replace_namespaced_config_map("counter", "default", current)
                        break
                    except ApiException as exc:
                        if exc.status != 409:
                            raise
                        with lock:
                            conflicts[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    final = kube.raw("v1", "ConfigMap", "counter")
    assert final is not None
    assert final["data"]["n"] == str(workers * increments)
    assert len(kube.log.writes()) == workers * increments
    assert len(kube.log.find(verb="update")) == workers * increments + conflicts[0]

"""The four PATCH types: the algorithms on plain JSON, then each one through the official client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, model, obj, status
from tests.support.kubeapi import Kube
from tests.support.kubeapi.patch import (
    PatchError,
    PatchFailed,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from tests.support.kubeapi.resources import DEFAULT_RESOURCES

DEPLOYMENT_META = next(rt for rt in DEFAULT_RESOURCES if rt.kind == "Deployment").patch_meta

# -- merge patch (RFC 7386 examples) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_keeps_key_order_and_does_not_touch_its_input() -> None:
    target = {"z": 1, "a": {"y": 1, "b": 2}, "m": 3}
    result = merge_patch(target, {"a": {"b": 5}, "new": 1})
    assert list(result) == ["z", "a", "m", "new"]
    assert list(result["a"]) == ["y", "b"]
    assert target["a"] == {"y": 1, "b": 2}


# -- JSON patch (RFC 6902) -----------------------------------------------------------------------------


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2, 3]}, "c": "x", "d": {"e~f/g": 1}}
    ops = [
        {"op": "add", "path": "/a/b/1", "value": 9},
        {"op": "add", "path": "/a/b/-", "value": 4},
        {"op": "remove", "path": "/a/b/0"},
        {"op": "replace", "path": "/c", "value": "y"},
        {"op": "move", "from": "/c", "path": "/moved"},
        {"op": "copy", "from": "/a/b", "path": "/copy"},
        {"op": "test", "path": "/d/e~0f~1g", "value": 1},
        {"op": "replace", "path": "/d/e~0f~1g", "value": 2},
    ]
    assert json_patch(doc, ops) == {"a": {"b": [9, 2, 3, 4]}, "d": {"e~f/g": 2}, "moved": "y", "copy": [9, 2, 3, 4]}
    assert doc["c"] == "x"


def test_json_patch_replace_keeps_the_key_in_place() -> None:
    assert list(json_patch({"a": 1, "b": 2, "c": 3}, [{"op": "replace", "path": "/b", "value": 0}])) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/a", "value": 2}],
        [{"op": "test", "path": "/a", "value": True}],
        [{"op": "test", "path": "/missing", "value": 1}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/list/7", "value": 1}],
        [{"op": "add", "path": "/nope/deeper", "value": 1}],
    ],
)
def test_json_patch_failures_are_patch_failed(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchFailed):
        json_patch({"a": 1, "list": [0]}, ops)


@pytest.mark.parametrize(
    "ops",
    [{"op": "add"}, [{"path": "/a"}], [{"op": "frobnicate", "path": "/a"}], [{"op": "add", "path": "a", "value": 1}]],
)
def test_malformed_json_patches_are_patch_errors(ops: Any) -> None:
    with pytest.raises(PatchError):
        json_patch({"a": 1}, ops)


def test_json_patch_is_atomic() -> None:
    doc = {"a": 1}
    with pytest.raises(PatchFailed):
        json_patch(doc, [{"op": "replace", "path": "/a", "value": 2}, {"op": "test", "path": "/a", "value": 1}])
    assert doc == {"a": 1}


# -- strategic merge -----------------------------------------------------------------------------------


def test_strategic_merge_merges_containers_env_ports_and_volumes_by_key() -> None:
    target = deployment("web")
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:2",
                            "env": [{"name": "LEVEL", "value": "debug"}, {"name": "NEW", "value": "1"}],
                        },
                        {"name": "extra", "image": "x:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                }
            }
        }
    }
    result = strategic_merge_patch(target, patch, DEPLOYMENT_META)
    pod = result["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["app", "sidecar", "extra"]
    app = pod["containers"][0]
    assert app["image"] == "app:2"
    assert app["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "LEVEL", "value": "debug"},
        {"name": "NEW", "value": "1"},
    ]
    assert app["ports"] == [{"containerPort": 8080, "name": "http"}]
    assert [v["name"] for v in pod["volumes"]] == ["config", "data"]


def test_strategic_merge_directives() -> None:
    target = deployment("web")
    patch = {
        "metadata": {"finalizers": ["a"], "labels": {"app": None}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "$patch": "delete"},
                        {"name": "app", "env": [{"name": "ONLY", "value": "1"}, {"$patch": "replace"}]},
                    ],
                    "$setElementOrder/containers": [{"name": "app"}],
                    "$deleteFromPrimitiveList/args": ["x"],
                },
            },
        },
    }
    target["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    result = strategic_merge_patch(target, patch, DEPLOYMENT_META)
    assert result["metadata"]["finalizers"] == ["a"]
    assert result["metadata"]["labels"] == {}
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    assert containers[0]["env"] == [{"name": "ONLY", "value": "1"}]


def test_strategic_merge_replaces_lists_without_a_patch_strategy_and_dedups_merged_primitives() -> None:
    meta = DEPLOYMENT_META
    target = {"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "x"}]}}}}
    patch = {"metadata": {"finalizers": ["b", "c"]}, "spec": {"template": {"spec": {"tolerations": [{"key": "y"}]}}}}
    result = strategic_merge_patch(target, patch, meta)
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "y"}]


def test_strategic_merge_needs_the_merge_key() -> None:
    with pytest.raises(PatchError, match="merge key: name"):
        strategic_merge_patch(
            deployment("web"), {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, DEPLOYMENT_META
        )


# -- server-side apply (simplified) --------------------------------------------------------------------


def test_apply_merges_and_prunes_what_the_same_manager_stopped_applying() -> None:
    live = {"metadata": {"name": "x", "labels": {"by-other": "1", "mine": "1"}}, "spec": {"a": 1, "b": 2}}
    first = {"metadata": {"name": "x", "labels": {"mine": "1"}}, "spec": {"a": 1, "b": 2}}
    second = {"metadata": {"name": "x", "labels": {"mine": "2"}}, "spec": {"a": 5}}
    result = apply_patch(live, second, first, {})
    assert result == {"metadata": {"name": "x", "labels": {"by-other": "1", "mine": "2"}}, "spec": {"a": 5}}


# -- through the client --------------------------------------------------------------------------------


def test_strategic_merge_through_the_client_changes_only_the_image(kube: Kube) -> None:
    kube.seed(deployment("web"))
    before = kube.raw("apps/v1", "Deployment", "web")
    assert before is not None
    apps = client.AppsV1Api(kube.api_client())
    patched = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    )
    assert patched.metadata is not None and patched.metadata.generation == 2
    after = kube.raw("apps/v1", "Deployment", "web")
    assert after is not None
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    before["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    assert after["spec"] == before["spec"]
    assert kube.log.find(verb="patch")[0].content_type == "application/strategic-merge-patch+json"


def test_custom_resources_refuse_strategic_merge_with_415(kube: Kube) -> None:
    kube.seed(http_route("web"))
    api = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", {"spec": {}},
            _content_type="application/strategic-merge-patch+json",
        )  # fmt: skip
    assert err.value.status == 415
    assert status(err.value)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def test_json_patch_test_failure_is_422_with_the_servers_message_and_writes_nothing(kube: Kube) -> None:
    kube.seed(http_route("web"))
    before, revision = kube.raw_json(f"{GATEWAY}/v1", "HTTPRoute", "web"), kube.revision
    api = client.CustomObjectsApi(kube.api_client())
    ops = [
        {"op": "test", "path": "/spec/rules/0/backendRefs/0/weight", "value": 90},
        {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 80},
    ]
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", ops, _content_type="application/json-patch+json"
        )
    assert (err.value.status, status(err.value)["reason"]) == (422, "Invalid")
    assert status(err.value)["message"] == "the server rejected our request due to an error in our request"
    assert kube.raw_json(f"{GATEWAY}/v1", "HTTPRoute", "web") == before
    assert kube.revision == revision
    assert kube.log.writes() == []
    ops[0]["value"] = 100
    done = obj(
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", ops, _content_type="application/json-patch+json"
        )
    )
    assert done["spec"]["rules"][0]["backendRefs"][0]["weight"] == 80


def test_merge_patch_keeps_the_stored_key_order(kube: Kube) -> None:
    route = http_route("web")
    route["spec"] = {"rules": route["spec"]["rules"], "parentRefs": route["spec"]["parentRefs"], "hostnames": ["a"]}
    kube.seed(route)
    api = client.CustomObjectsApi(kube.api_client())
    api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "web", {"spec": {"hostnames": ["b"]}})
    stored = json.loads(kube.raw_json(f"{GATEWAY}/v1", "HTTPRoute", "web"))
    assert list(stored["spec"]) == ["rules", "parentRefs", "hostnames"]
    assert list(stored) == ["apiVersion", "kind", "metadata", "spec"]


def test_a_patch_carrying_a_stale_resource_version_conflicts(kube: Kube) -> None:
    kube.seed(http_route("web"))
    api = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", {"metadata": {"resourceVersion": "1"}, "spec": {"x": 1}}
        )
    assert (err.value.status, status(err.value)["reason"]) == (409, "Conflict")
    current = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "web")
    assert current is not None
    rv = current["metadata"]["resourceVersion"]
    done = obj(
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", {"metadata": {"resourceVersion": rv}, "spec": {"x": 1}}
        )
    )
    assert done["spec"]["x"] == 1


def test_patching_something_missing_is_404(kube: Kube) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", "nope", {"spec": {}})
    assert err.value.status == 404
    assert status(err.value)["message"] == f'httproutes.{GATEWAY} "nope" not found'
    assert status(err.value)["details"] == {"name": "nope", "group": GATEWAY, "kind": "httproutes"}


def test_server_side_apply_creates_updates_and_needs_a_field_manager(kube: Kube) -> None:
    api = kube.api_client()
    path = f"/apis/{GATEWAY}/v1/namespaces/default/httproutes/web"

    def apply(body: dict[str, Any], manager: str | None) -> tuple[int, dict[str, Any]]:
        query = [("fieldManager", manager)] if manager else []
        response = api.call_api(
            *api.param_serialize(
                method="PATCH",
                resource_path=path,
                query_params=query,
                header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                body=body,
            )
        )
        response.read()
        return response.status, json.loads(response.data)

    route = http_route("web")
    code, body = apply(route, None)
    assert code == 422
    assert (
        body["message"]
        == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    code, body = apply(route, "progressive")
    assert code == 201
    assert body["metadata"]["generation"] == 1
    revision = kube.revision
    code, body = apply(route, "progressive")
    assert (code, kube.revision) == (200, revision)  # re-applying the same manifest is a no-op
    route["spec"].pop("parentRefs")
    code, body = apply(route, "progressive")
    assert code == 200
    assert "parentRefs" not in body["spec"]
    assert body["metadata"]["generation"] == 2


def test_patch_of_a_configmap_through_the_typed_client(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map(
        "default", model(client.V1ConfigMap, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    )
    patched = core.patch_namespaced_config_map("c", "default", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    patched = core.patch_namespaced_config_map("c", "default", [{"op": "remove", "path": "/data/a"}])
    assert patched.data == {"b": "2"}
    assert [e.content_type for e in kube.log.find(verb="patch")] == [
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ]


def test_strategic_merge_on_an_ingress_replaces_rules_and_merges_annotations(kube: Kube) -> None:
    rule = {"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}  # fmt: skip
    kube.seed(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "web", "annotations": {"keep": "1"}},
            "spec": {"rules": [rule, {**rule, "host": "other.example"}]},
        }
    )
    net = client.NetworkingV1Api(kube.api_client())
    patched = net.patch_namespaced_ingress(
        "web",
        "default",
        {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary": "true"}}, "spec": {"rules": [rule]}},
    )
    assert patched.metadata is not None and patched.metadata.annotations == {
        "keep": "1",
        "nginx.ingress.kubernetes.io/canary": "true",
    }
    assert patched.spec is not None and [r.host for r in patched.spec.rules or []] == ["shop.example"]


def test_a_dry_run_patch_answers_the_result_and_stores_nothing(kube: Kube) -> None:
    kube.seed(http_route("web"))
    revision = kube.revision
    api = client.CustomObjectsApi(kube.api_client())
    preview = obj(
        api.patch_namespaced_custom_object(
            GATEWAY, "v1", "default", "httproutes", "web", {"spec": {"hostnames": ["x"]}}, dry_run="All"
        )
    )
    assert preview["spec"]["hostnames"] == ["x"]
    assert kube.revision == revision
    stored = kube.raw(f"{GATEWAY}/v1", "HTTPRoute", "web")
    assert stored is not None and "hostnames" not in stored["spec"]

"""Create, read, list, replace and delete through the official client, per kind family."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, model, obj, status
from tests.support.kubeapi import Kube
from tests.support.kubeapi.store import GENERATE_NAME_CHARS


def test_configmap_lifecycle(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    created = core.create_namespaced_config_map(
        "default", model(client.V1ConfigMap, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    )
    assert created.metadata is not None
    assert created.metadata.resource_version == str(kube.revision)
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.generation is None  # ConfigMaps carry no generation
    got = core.read_namespaced_config_map("cfg", "default")
    assert got.data == {"a": "1"}
    got.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("cfg", "default", got)
    assert replaced.metadata is not None
    assert int(replaced.metadata.resource_version or 0) > int(created.metadata.resource_version or 0)
    listed = core.list_namespaced_config_map("default")
    assert [c.metadata.name for c in listed.items if c.metadata] == ["cfg"]
    assert listed.metadata is not None
    assert listed.metadata.resource_version == str(kube.revision)
    deleted = obj(core.delete_namespaced_config_map("cfg", "default"))
    assert deleted["status"] == "Success"
    assert deleted["details"]["name"] == "cfg"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("cfg", "default")
    assert err.value.status == 404
    assert status(err.value)["message"] == 'configmaps "cfg" not found'
    assert status(err.value)["details"] == {"name": "cfg", "kind": "configmaps"}


def test_secret_string_data_is_encoded_into_data(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_secret(
        "default", model(client.V1Secret, {"metadata": {"name": "token"}, "stringData": {"token": "s3cr3t"}})
    )
    stored = kube.raw("v1", "Secret", "token")
    assert stored is not None
    assert "stringData" not in stored
    assert base64.b64decode(stored["data"]["token"]) == b"s3cr3t"


def test_deployment_defaults_generation_and_typed_round_trip(kube: Kube) -> None:
    apps = client.AppsV1Api(kube.api_client())
    created = apps.create_namespaced_deployment("default", model(client.V1Deployment, deployment("web")))
    assert created.metadata is not None and created.spec is not None
    assert created.metadata.generation == 1
    assert created.spec.replicas == 1
    assert created.spec.progress_deadline_seconds == 600
    assert created.status is not None and created.status.observed_generation is None
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    assert scale.spec is not None and scale.status is not None
    assert scale.spec.replicas == 3
    assert scale.status.selector == "app=web"
    after = apps.read_namespaced_deployment("web", "default")
    assert after.spec is not None and after.metadata is not None
    assert after.spec.replicas == 3
    assert after.metadata.generation == 2
    listed = apps.list_namespaced_deployment("default", label_selector="app=web")
    assert [d.metadata.name for d in listed.items if d.metadata] == ["web"]


def test_list_items_of_builtin_kinds_carry_no_type_meta_but_custom_resources_do(kube: Kube) -> None:
    kube.seed(deployment("web"), http_route("web"))
    api = kube.api_client()
    raw = api.call_api(
        *api.param_serialize(method="GET", resource_path="/apis/apps/v1/namespaces/default/deployments")
    ).read()
    listed = json.loads(raw)
    assert listed["kind"] == "DeploymentList" and listed["apiVersion"] == "apps/v1"
    assert "kind" not in listed["items"][0] and "apiVersion" not in listed["items"][0]
    routes = obj(client.CustomObjectsApi(api).list_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes"))
    assert routes["kind"] == "HTTPRouteList"
    assert routes["items"][0]["kind"] == "HTTPRoute"


@pytest.mark.parametrize(
    ("group", "versions", "plural", "kind", "spec"),
    [
        (GATEWAY, ("v1", "v1beta1"), "httproutes", "HTTPRoute", {"rules": [{"backendRefs": [{"name": "a"}]}]}),
        ("networking.istio.io", ("v1", "v1beta1"), "virtualservices", "VirtualService", {"hosts": ["web"]}),
        ("networking.istio.io", ("v1beta1", "v1"), "destinationrules", "DestinationRule", {"host": "web"}),
        ("traefik.io", ("v1alpha1",), "traefikservices", "TraefikService", {"weighted": {"services": []}}),
        ("traefik.containo.us", ("v1alpha1",), "traefikservices", "TraefikService", {"weighted": {"services": []}}),
        ("split.smi-spec.io", ("v1alpha1", "v1alpha4"), "trafficsplits", "TrafficSplit", {"service": "web"}),
        ("split.smi-spec.io", ("v1alpha2", "v1alpha3"), "trafficsplits", "TrafficSplit", {"service": "web"}),
        ("projectcontour.io", ("v1",), "httpproxies", "HTTPProxy", {"routes": []}),
        ("tekton.dev", ("v1",), "tasks", "Task", {"steps": [{"name": "s", "image": "busybox"}]}),
        ("tekton.dev", ("v1",), "pipelines", "Pipeline", {"tasks": []}),
        ("tekton.dev", ("v1",), "pipelineruns", "PipelineRun", {"pipelineRef": {"name": "p"}}),
        ("tekton.dev", ("v1",), "taskruns", "TaskRun", {"taskRef": {"name": "t"}}),
    ],
)
def test_custom_resources_are_stored_once_and_served_at_each_version(
    kube: Kube, group: str, versions: tuple[str, ...], plural: str, kind: str, spec: dict[str, Any]
) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    first, last = versions[0], versions[-1]
    body = {"apiVersion": f"{group}/{first}", "kind": kind, "metadata": {"name": "thing"}, "spec": spec}
    kube.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    made = obj(api.create_namespaced_custom_object(group, first, "shop", plural, body))
    assert made["metadata"]["generation"] == 1
    assert "status" not in made
    other = obj(api.get_namespaced_custom_object(group, last, "shop", plural, "thing"))
    assert other["apiVersion"] == f"{group}/{last}"
    assert other["spec"] == spec
    patched = obj(api.patch_namespaced_custom_object(group, last, "shop", plural, "thing", {"spec": {"extra": 1}}))
    assert patched["metadata"]["generation"] == 2
    assert obj(api.list_namespaced_custom_object(group, first, "shop", plural))["items"][0]["spec"]["extra"] == 1
    api.delete_namespaced_custom_object(group, first, "shop", plural, "thing")
    assert kube.raw(f"{group}/{first}", kind, "thing", "shop") is None


def test_the_two_traefik_groups_are_distinct_stores(kube: Kube) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    for group in ("traefik.io", "traefik.containo.us"):
        body = {"apiVersion": f"{group}/v1alpha1", "kind": "TraefikService", "metadata": {"name": "ts"}, "spec": {}}
        api.create_namespaced_custom_object(group, "v1alpha1", "default", "traefikservices", body)
    assert len(kube.list("traefik.io/v1alpha1", "TraefikService")) == 1
    assert len(kube.list("traefik.containo.us/v1alpha1", "TraefikService")) == 1


def test_generate_name_appends_five_lowercase_alphanumerics(kube: Kube) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    body = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"generateName": "release-"}}
    names = set()
    for _ in range(5):
        made = obj(api.create_namespaced_custom_object("tekton.dev", "v1", "default", "pipelineruns", body))
        name = made["metadata"]["name"]
        assert name.startswith("release-") and len(name) == len("release-") + 5
        assert all(c in GENERATE_NAME_CHARS for c in name[-5:])
        assert made["metadata"]["generateName"] == "release-"
        names.add(name)
    assert len(names) == 5


def test_create_conflicts_and_validation_errors(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    cm = model(client.V1ConfigMap, {"metadata": {"name": "cfg"}})
    core.create_namespaced_config_map("default", cm)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", cm)
    assert (err.value.status, status(err.value)["reason"]) == (409, "AlreadyExists")
    assert status(err.value)["message"] == 'configmaps "cfg" already exists'

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", cm)
    assert err.value.status == 404
    assert status(err.value)["message"] == 'namespaces "nowhere" not found'

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", model(client.V1ConfigMap, {"metadata": {}}))
    assert err.value.status == 422
    assert status(err.value)["message"] == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", model(client.V1ConfigMap, {"metadata": {"name": "Bad_Name"}}))
    assert err.value.status == 422
    assert status(err.value)["details"]["causes"][0]["field"] == "metadata.name"

    with pytest.raises(ApiException) as err:
        core.create_namespaced_service("default", model(client.V1Service, {"metadata": {"name": "1web"}}))
    assert err.value.status == 422
    assert "DNS-1035 label" in status(err.value)["message"]

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(
            "default", model(client.V1ConfigMap, {"metadata": {"name": "x", "namespace": "other"}})
        )
    assert err.value.status == 400
    assert "does not match the namespace" in status(err.value)["message"]


def test_custom_resources_need_kind_and_matching_api_version(kube: Kube) -> None:
    api = client.CustomObjectsApi(kube.api_client())
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", {"metadata": {"name": "r"}})
    assert err.value.status == 400
    assert "Object 'Kind' is missing" in status(err.value)["message"]
    with pytest.raises(ApiException) as err:
        api.create_namespaced_custom_object(GATEWAY, "v1", "default", "httproutes", http_route("r", version="v1beta1"))
    assert err.value.status == 400
    assert "does not match the expected API version" in status(err.value)["message"]


def test_namespaces_are_cluster_scoped_and_deleting_one_deletes_its_objects(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    ns = core.create_namespace(model(client.V1Namespace, {"metadata": {"name": "team"}}))
    assert ns.status is not None and ns.status.phase == "Active"
    core.create_namespaced_config_map("team", model(client.V1ConfigMap, {"metadata": {"name": "cfg"}}))
    assert {n.metadata.name for n in core.list_namespace().items if n.metadata} >= {"default", "kube-system", "team"}
    core.delete_namespace("team")
    assert kube.raw("v1", "ConfigMap", "cfg", "team") is None
    with pytest.raises(ApiException) as err:
        core.read_namespace("team")
    assert err.value.status == 404


def test_list_across_namespaces_is_sorted_and_paginates(kube: Kube) -> None:
    for ns in ("b", "a"):
        for name in ("y", "x"):
            kube.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}})
    core = client.CoreV1Api(kube.api_client())
    everything = core.list_config_map_for_all_namespaces()
    assert [(c.metadata.namespace, c.metadata.name) for c in everything.items if c.metadata] == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
        ("b", "y"),
    ]
    page = core.list_config_map_for_all_namespaces(limit=3)
    assert page.metadata is not None and page.metadata.var_continue
    assert page.metadata.remaining_item_count == 1
    rest = core.list_config_map_for_all_namespaces(limit=3, _continue=page.metadata.var_continue)
    assert [(c.metadata.namespace, c.metadata.name) for c in rest.items if c.metadata] == [("b", "y")]


def test_delete_preconditions_and_finalizers(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    made = core.create_namespaced_config_map(
        "default", model(client.V1ConfigMap, {"metadata": {"name": "held", "finalizers": ["example.com/keep"]}})
    )
    assert made.metadata is not None
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map(
            "held", "default", body=model(client.V1DeleteOptions, {"preconditions": {"resourceVersion": "1"}})
        )
    assert err.value.status == 409
    assert "Precondition failed" in status(err.value)["message"]
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata is not None and held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("held", "default")
    assert err.value.status == 404


def test_dry_run_validates_without_storing(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    before = kube.revision
    made = core.create_namespaced_config_map(
        "default", model(client.V1ConfigMap, {"metadata": {"name": "cfg"}}), dry_run="All"
    )
    assert made.metadata is not None and made.metadata.uid
    assert kube.raw("v1", "ConfigMap", "cfg") is None
    assert kube.revision == before
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(
            "default", model(client.V1ConfigMap, {"metadata": {"name": "c"}}), dry_run="Some"
        )
    assert err.value.status == 422


def test_pods_events_services_ingresses_and_rbac_kinds_round_trip(kube: Kube) -> None:
    api = kube.api_client()
    core, net, rbac = client.CoreV1Api(api), client.NetworkingV1Api(api), client.RbacAuthorizationV1Api(api)
    pod = core.create_namespaced_pod(
        "default",
        model(client.V1Pod, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    assert pod.status is not None and pod.status.phase == "Pending"
    core.create_namespaced_service(
        "default", model(client.V1Service, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    )
    event = {
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "default"},
        "reason": "Promoted",
        "message": "canary promoted",
        "type": "Normal",
    }
    core.create_namespaced_event("default", model(client.CoreV1Event, event))
    found = core.list_namespaced_event("default", field_selector="involvedObject.name=web,reason=Promoted")
    assert [e.message for e in found.items] == ["canary promoted"]
    ingress = {
        "metadata": {"name": "web"},
        "spec": {"rules": [{"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                  "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
    }  # fmt: skip
    made = net.create_namespaced_ingress("default", model(client.V1Ingress, ingress))
    assert made.metadata is not None and made.metadata.generation == 1
    role = {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    rbac.create_namespaced_role("default", model(client.V1Role, role))
    binding = {
        "metadata": {"name": "rb"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "default"}],
    }
    rbac.create_namespaced_role_binding("default", model(client.V1RoleBinding, binding))
    assert [r.metadata.name for r in rbac.list_namespaced_role("default").items if r.metadata] == ["r"]

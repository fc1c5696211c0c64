"""Tokens and RBAC: what a ServiceAccount may and may not do, with the API server's messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import GATEWAY, deployment, http_route, model, obj, status
from tests.support.kubeapi import Kube
from tests.support.kubeapi.rbac import Attributes, User

SA = "system:serviceaccount:shop:deployer"


def _grant(kube: Kube, rules: list[dict[str, Any]], *, namespace: str = "shop", cluster: bool = False) -> None:
    """A Role (or ClusterRole) with ``rules`` bound to shop/deployer in ``namespace``."""
    role_kind = "ClusterRole" if cluster else "Role"
    role_meta: dict[str, Any] = {"name": "deployer"} if cluster else {"name": "deployer", "namespace": namespace}
    kube.seed(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": role_meta, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "deployer", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "shop"}],
        },
    )


@pytest.fixture
def as_sa(kube: Kube) -> Any:
    """An ApiClient authenticated as shop/deployer, RBAC enforced."""
    kube.seed(deployment("web", namespace="shop"), deployment("other", namespace="shop"), http_route("web", "shop"))
    kube.enable_rbac()
    return kube.api_client(kube.service_account_kubeconfig("shop", "deployer"))


def _forbidden(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 403
    return status(err.value)


def test_rbac_is_off_by_default_and_any_token_is_admin(kube: Kube) -> None:
    config = kube.kubeconfig_for_token("not-a-real-token")
    core = client.CoreV1Api(kube.api_client(config))
    assert core.list_namespaced_config_map("default").items == []


def test_nothing_is_allowed_without_a_binding_and_the_message_is_the_api_servers(kube: Kube, as_sa: Any) -> None:
    apps = client.AppsV1Api(as_sa)
    body = _forbidden(lambda: apps.read_namespaced_deployment("web", "shop"))
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'deployments.apps "web" is forbidden: User "{SA}" cannot get resource "deployments" '
        'in API group "apps" in the namespace "shop"',
        "reason": "Forbidden",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 403,
    }
    listing = _forbidden(lambda: client.CoreV1Api(as_sa).list_namespaced_config_map("shop"))
    assert listing["message"] == (
        f'configmaps is forbidden: User "{SA}" cannot list resource "configmaps" in API group "" '
        'in the namespace "shop"'
    )
    assert [e.status for e in kube.log.find(verb="get")] == [403]


def test_resource_names_limit_get_and_patch_to_the_named_objects(kube: Kube, as_sa: Any) -> None:
    _grant(
        kube,
        [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"], "resourceNames": ["web"]}],
    )
    apps = client.AppsV1Api(as_sa)
    apps.read_namespaced_deployment("web", "shop")
    apps.patch_namespaced_deployment("web", "shop", {"metadata": {"labels": {"x": "1"}}})
    _forbidden(lambda: apps.read_namespaced_deployment("other", "shop"))
    _forbidden(
        lambda: apps.replace_namespaced_deployment("web", "shop", apps.read_namespaced_deployment("web", "shop"))
    )
    # list and create carry no name: resourceNames can never allow them
    _forbidden(lambda: apps.list_namespaced_deployment("shop"))
    _forbidden(
        lambda: apps.create_namespaced_deployment(
            "shop", model(client.V1Deployment, deployment("new", namespace="shop"))
        )
    )


def test_a_list_pinned_to_one_name_by_field_selector_is_authorized_on_that_name(kube: Kube, as_sa: Any) -> None:
    _grant(kube, [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"], "resourceNames": ["web"]}])
    apps = client.AppsV1Api(as_sa)
    found = apps.list_namespaced_deployment("shop", field_selector="metadata.name=web")
    assert [d.metadata.name for d in found.items if d.metadata] == ["web"]
    _forbidden(lambda: apps.list_namespaced_deployment("shop", field_selector="metadata.name=other"))
    _forbidden(lambda: apps.list_namespaced_deployment("shop"))


def test_create_and_list_rules_without_names(kube: Kube, as_sa: Any) -> None:
    _grant(
        kube,
        [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        ],
    )
    core = client.CoreV1Api(as_sa)
    core.create_namespaced_config_map("shop", model(client.V1ConfigMap, {"metadata": {"name": "state"}}))
    _forbidden(lambda: core.read_namespaced_config_map("state", "shop"))
    assert core.list_namespaced_pod("shop", label_selector="app=web").items == []
    _forbidden(lambda: core.read_namespaced_pod("p", "shop"))
    _forbidden(core.list_pod_for_all_namespaces)


def test_subresources_need_their_own_rules(kube: Kube, as_sa: Any) -> None:
    _grant(
        kube,
        [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
            {"apiGroups": [GATEWAY], "resources": ["httproutes"], "verbs": ["get", "patch"]},
            {"apiGroups": [GATEWAY], "resources": ["*/status"], "verbs": ["get"]},
        ],
    )
    apps = client.AppsV1Api(as_sa)
    body = _forbidden(lambda: apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": 2}}))
    assert body["message"] == (
        f'deployments.apps "web" is forbidden: User "{SA}" cannot patch resource "deployments/scale" '
        'in API group "apps" in the namespace "shop"'
    )
    custom = client.CustomObjectsApi(as_sa)
    obj(custom.get_namespaced_custom_object_status(GATEWAY, "v1", "shop", "httproutes", "web"))
    _forbidden(
        lambda: custom.patch_namespaced_custom_object_status(GATEWAY, "v1", "shop", "httproutes", "web", {"status": {}})
    )
    obj(
        custom.patch_namespaced_custom_object(
            GATEWAY, "v1", "shop", "httproutes", "web", {"spec": {"hostnames": ["a"]}}
        )
    )
    # a group rule does not cover another group serving the same resource name
    _forbidden(lambda: custom.get_namespaced_custom_object("traefik.io", "v1alpha1", "shop", "traefikservices", "web"))


def test_role_bindings_grant_only_in_their_namespace_and_may_reference_cluster_roles(kube: Kube, as_sa: Any) -> None:
    _grant(kube, [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}], cluster=True)
    core = client.CoreV1Api(as_sa)
    assert core.list_namespaced_config_map("shop").items == []
    body = _forbidden(lambda: core.list_namespaced_config_map("default"))
    assert 'in the namespace "default"' in body["message"]
    cluster_wide = _forbidden(core.list_config_map_for_all_namespaces)
    assert cluster_wide["message"].endswith('cannot list resource "configmaps" in API group "" at the cluster scope')


def test_cluster_role_bindings_grant_everywhere(kube: Kube, as_sa: Any) -> None:
    kube.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:shop"}],
        },
    )
    core = client.CoreV1Api(as_sa)
    core.list_config_map_for_all_namespaces()
    _forbidden(
        lambda: core.create_namespaced_config_map("shop", model(client.V1ConfigMap, {"metadata": {"name": "x"}}))
    )


def test_a_binding_to_a_missing_role_says_so(kube: Kube, as_sa: Any) -> None:
    kube.seed(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "dangling", "namespace": "shop"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gone"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "shop"}],
        }
    )
    body = _forbidden(lambda: client.CoreV1Api(as_sa).list_namespaced_config_map("shop"))
    assert body["message"].endswith(': RBAC: role.rbac.authorization.k8s.io "gone" not found')


def test_unknown_tokens_are_401_and_the_admin_token_bypasses(kube: Kube, as_sa: Any) -> None:
    del as_sa
    stranger = client.CoreV1Api(kube.api_client(kube.kubeconfig_for_token("forged")))
    with pytest.raises(ApiException) as err:
        stranger.list_namespaced_config_map("shop")
    assert (err.value.status, status(err.value)["reason"]) == (401, "Unauthorized")
    admin = client.CoreV1Api(kube.api_client())
    assert admin.list_namespaced_config_map("shop").items == []


def test_discovery_is_open_to_authenticated_users(kube: Kube, as_sa: Any) -> None:
    del kube
    version = client.VersionApi(as_sa).get_code()
    assert version.git_version.startswith("v1.")
    groups = client.ApisApi(as_sa).get_api_versions()
    assert "apps" in [g.name for g in groups.groups]


ALL = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
GET_DEPLOYMENTS = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}
GET_DEPLOYMENT_SCALE = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]}
GET_ANY_SCALE = {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]}
GET_CONFIGMAP_A = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}
CREATE_CONFIGMAP_A = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"], "resourceNames": ["a"]}
WATCH_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch"]}


@pytest.mark.parametrize(
    ("rule", "attrs", "allowed"),
    [
        (ALL, ("delete", "apps", "deployments", "", "x"), True),
        (GET_DEPLOYMENTS, ("get", "apps", "deployments", "scale", "x"), False),
        (GET_DEPLOYMENT_SCALE, ("get", "apps", "deployments", "scale", "x"), True),
        (GET_ANY_SCALE, ("get", "apps", "replicasets", "scale", "x"), True),
        (GET_ANY_SCALE, ("get", "apps", "replicasets", "", "x"), False),
        (GET_CONFIGMAP_A, ("get", "", "configmaps", "", "b"), False),
        (GET_CONFIGMAP_A, ("get", "", "configmaps", "", "a"), True),
        (CREATE_CONFIGMAP_A, ("create", "", "configmaps", "", ""), False),
        (WATCH_CONFIGMAPS, ("list", "", "configmaps", "", ""), False),
    ],
)
def test_rule_matching(kube: Kube, rule: dict[str, Any], attrs: tuple[str, str, str, str, str], allowed: bool) -> None:
    _grant(kube, [rule])
    verb, group, resource, subresource, name = attrs
    user = User(SA, ("system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"))
    request = Attributes(user, verb, "/", True, group, resource, subresource, "shop", name)
    assert kube.server.authorizer.allows(request)[0] is allowed

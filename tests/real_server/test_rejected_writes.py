"""Weight writes the API server refuses (422): the step says which object and field, and changes nothing.

The step only ever writes small whole numbers where weights go, so a refusal comes from the object around them:

* a CRD schema rule the object predates. Gateway API v1.1 added the CEL rule "Must have port for Service
  reference" on ``backendRefs``; a route stored before the upgrade keeps a port-less backend, and the API server
  tolerates it (validation ratcheting) until a write changes that backend entry, as a weight change does. Here the
  upgrade is replayed: the rule is taken out of the cluster's HTTPRoute CRD, the route stored, the rule put back;
* an admission policy of the platform (``ValidatingAdmissionPolicy``): a change freeze on the route. (A policy
  cannot set a field path the way a schema rule does, so its message names the field.)

Either way the step must fail with the server's reason, naming the object and the field, with the route and the
state record as they were.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from progressive.state import CONFIGMAP_KEY
from tests.real_server._world import ROUTE, route_weights, set_weight_args, web
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster

CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io")
PORT_RULE = "Must have port for Service reference"
ADMISSION = "admissionregistration.k8s.io/v1"

Obj = dict[str, Any]


def _backend_ref_rules(crd: Obj) -> list[Obj]:
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    rules = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["rules"]
    backend_ref: Obj = rules["items"]["properties"]["backendRefs"]["items"]
    validations: list[Obj] = backend_ref.setdefault("x-kubernetes-validations", [])
    return validations


def _wait_for_schema(cluster: Cluster, *, enforced: bool) -> None:
    """The API server applies a changed CRD schema a moment later: probe with a dry-run port-less route."""
    probe = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "schema-probe", "namespace": cluster.namespace},
        "spec": {"rules": [{"backendRefs": [{"name": "web"}]}]},
    }

    def settled() -> bool:
        try:
            cluster.create_dry_run(probe)
            accepted = True
        except ApiException:
            accepted = False
        return accepted != enforced

    cluster.wait_for(f"the port rule {'back' if enforced else 'gone'}", settled, timeout=30)


@pytest.fixture
def route_from_before_the_port_rule(cluster: Cluster) -> Iterator[None]:
    """The world, with the canary backend stored without a port while the CRD lacked the rule (then restored)."""
    web(cluster)
    original = cluster.must_get(*CRD)
    loose = copy.deepcopy(original)
    _backend_ref_rules(loose)[:] = [r for r in _backend_ref_rules(loose) if r.get("message") != PORT_RULE]
    assert len(_backend_ref_rules(loose)) < len(_backend_ref_rules(original)), "the upstream CRD has no port rule"
    cluster.replace(loose)
    try:
        _wait_for_schema(cluster, enforced=False)
        cluster.patch(*ROUTE, [{"op": "remove", "path": "/spec/rules/0/backendRefs/1/port"}], merge="json")
    finally:
        current = cluster.must_get(*CRD)
        restored = copy.deepcopy(original)
        restored["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        cluster.replace(restored)
        _wait_for_schema(cluster, enforced=True)
    yield


def _state(cluster: Cluster) -> Obj:
    configmap = cluster.get("v1", "ConfigMap", "progressive-web")
    return {} if configmap is None else dict(json.loads(configmap["data"][CONFIGMAP_KEY]))


def test_a_write_the_crd_schema_rejects_names_the_object_and_field_and_changes_nothing(
    cluster_env: Cluster, route_from_before_the_port_rule: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    before = cluster.must_get(*ROUTE)
    assert "port" not in before["spec"]["rules"][0]["backendRefs"][1]  # stored, tolerated
    result = run_step(capsys, *set_weight_args(cluster, 30))
    assert result.code != 0, result.lines
    error = result.last["error"]
    assert f"HTTPRoute {cluster.namespace}/web" in error, error
    assert "spec.rules[0].backendRefs[1]" in error and PORT_RULE in error, error
    after = cluster.must_get(*ROUTE)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]  # nothing written
    assert route_weights(cluster) == {"web": 100, "web-canary": 0}
    assert _state(cluster).get("pending_weight") is None


@pytest.fixture
def change_freeze(cluster: Cluster) -> Iterator[None]:
    """A ValidatingAdmissionPolicy refusing any change of the route's backends while it is labelled frozen."""
    name = f"freeze-{cluster.namespace}"[:63]
    policy = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["gateway.networking.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        "resources": ["httproutes"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.metadata.labels) || !('freeze' in object.metadata.labels) || "
                    "object.spec.rules == oldObject.spec.rules",
                    "message": "spec.rules: change freeze, the route's backends may not change",
                    "reason": "Invalid",
                }
            ],
        },
    }
    binding = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}}
            },
        },
    }
    cluster.create(policy, binding)
    try:
        yield
    finally:
        cluster.delete(ADMISSION, "ValidatingAdmissionPolicyBinding", name)
        cluster.delete(ADMISSION, "ValidatingAdmissionPolicy", name)


def test_a_write_an_admission_policy_rejects_is_reported_and_changes_nothing(
    cluster_env: Cluster, change_freeze: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    web(cluster)
    cluster.patch(*ROUTE, {"metadata": {"labels": {"freeze": "true"}}})
    frozen = cluster.must_get(*ROUTE)
    moved = copy.deepcopy(frozen)
    moved["spec"]["rules"][0]["backendRefs"][1]["weight"] = 1
    cluster.wait_for("the freeze to be enforced", lambda: _refused(cluster, moved), timeout=30)
    result = run_step(capsys, *set_weight_args(cluster, 30))
    assert result.code != 0, result.lines
    error = result.last["error"]
    assert f"HTTPRoute {cluster.namespace}/web" in error, error
    assert "denied request: spec.rules: change freeze" in error, error  # the policy's own words, field first
    assert cluster.must_get(*ROUTE)["metadata"]["resourceVersion"] == frozen["metadata"]["resourceVersion"]
    assert route_weights(cluster) == {"web": 100, "web-canary": 0}
    assert _state(cluster).get("pending_weight") is None


def _refused(cluster: Cluster, obj: Obj) -> bool:
    try:
        cluster.replace(obj, dry_run=True)
    except ApiException:
        return True
    return False

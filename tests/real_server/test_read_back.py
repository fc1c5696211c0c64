"""The read-back after a weight write: someone else changes the route between the step's write and its check.

Two real ways this happens, both impossible on a stand-in server:

* a mutating admission policy (``MutatingAdmissionPolicy``, CEL, evaluated by the API server itself) rewrites the
  step's write: a platform's "canary at most 20%" rule. The server stores something other than what the step
  sent, and answers 200;
* a second writer (a person with ``kubectl edit``, another pipeline) changes the route right after the step's write,
  before its read-back: injected at that exact point by the fault proxy running a real write first.

Either way the step must notice, fail with the object named, and leave nothing half-shifted: the route is as it
was before the step (admission) or as the other writer left it (never a mix of the step's write and someone
else's), and the state record claims no weight it did not verify.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from progressive.state import CONFIGMAP_KEY
from tests.real_server._world import ROUTE, route_weights, set_weight_args, web
from tests.step.stepcli import run_step
from tests.support.cluster.access import Cluster
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import before

ADMISSION = "admissionregistration.k8s.io/v1"


@pytest.fixture
def capped_canary(cluster: Cluster) -> Iterator[str]:
    """A MutatingAdmissionPolicy, bound to the test's namespace, that caps the canary backend's weight at 20."""
    name = f"cap-canary-{cluster.namespace}"[:63]
    policy = {
        "apiVersion": ADMISSION,
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
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
            "matchConditions": [
                {
                    "name": "canary-above-20",
                    "expression": "object.spec.rules[0].backendRefs[1].name == 'web-canary' && "
                    "object.spec.rules[0].backendRefs[1].weight > 20",
                }
            ],
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "mutations": [
                {
                    "patchType": "JSONPatch",
                    "jsonPatch": {
                        "expression": (
                            '[JSONPatch{op: "replace", path: "/spec/rules/0/backendRefs/1/weight", value: 20}]'
                        )
                    },
                }
            ],
        },
    }
    binding = {
        "apiVersion": ADMISSION,
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": cluster.namespace}}
            },
        },
    }
    cluster.create(policy, binding)
    try:
        yield name
    finally:
        cluster.delete(ADMISSION, "MutatingAdmissionPolicyBinding", name)
        cluster.delete(ADMISSION, "MutatingAdmissionPolicy", name)


def _wait_until_policy_applies(cluster: Cluster) -> None:
    """Admission policies take effect once the server's informers saw them: probe with a dry-run write."""

    def mutated() -> bool:
        route = cluster.must_get(*ROUTE)
        route["spec"]["rules"][0]["backendRefs"][1]["weight"] = 50
        stored = cluster.replace(route, dry_run=True)
        return bool(stored["spec"]["rules"][0]["backendRefs"][1]["weight"] == 20)

    cluster.wait_for("the MutatingAdmissionPolicy to act", mutated, timeout=30)


def _state(cluster: Cluster) -> dict[str, object]:
    configmap = cluster.get("v1", "ConfigMap", "progressive-web")
    return {} if configmap is None else dict(json.loads(configmap["data"][CONFIGMAP_KEY]))


def test_a_write_rewritten_by_admission_fails_and_puts_the_route_back(
    cluster_env: Cluster, capped_canary: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = cluster_env
    web(cluster)
    _wait_until_policy_applies(cluster)
    result = run_step(capsys, *set_weight_args(cluster, 50))
    assert result.code == 5, result.lines
    error = result.last["error"]
    assert f"HTTPRoute {cluster.namespace}/web: read back after the write shows canary" in error, error
    assert "something else changed it" in error and error.endswith("the previous weights were put back"), error
    # never half-shifted: not 50/20 (the admission's version of the step's write), not 100/20 (half undone)
    assert route_weights(cluster) == {"web": 100, "web-canary": 0}
    state = _state(cluster)
    assert state.get("pending_weight") is None and state.get("canary_weight") in (None, 0), state


def test_a_second_writer_between_write_and_read_back_is_noticed_and_left_alone(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    web(cluster)

    def someone_sets_five_percent() -> None:
        """``kubectl edit`` by a person, just after the step's write (the proxy holds the step's next read)."""
        cluster.patch(
            *ROUTE,
            [
                {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 95},
                {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 5},
            ],
            merge="json",
        )

    # the step's first GET reads, the PUT writes 70/30, the second GET is its read-back: the edit lands before it
    api_proxy.faults.add(before(someone_sets_five_percent), verb="get", resource="httproutes", after=1, times=1)
    result = run_step(capsys, *set_weight_args(cluster, 30))
    assert result.code == 5, result.lines
    error = result.last["error"]
    assert f"HTTPRoute {cluster.namespace}/web: read back after the write shows canary 5, not 30" in error, error
    writes = [e for e in api_proxy.log.writes() if e.resource == "httproutes"]
    assert [w.verb for w in writes] == ["update"], writes  # the step's write; its undo found nothing of its own left
    assert route_weights(cluster) == {"web": 95, "web-canary": 5}  # the other writer's decision stands, whole
    state = _state(cluster)
    assert state.get("pending_weight") is None and state.get("canary_weight") != 30, state

"""Built-in validation a step can trip over: Deployment selectors and templates, Events."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.kubeapi._helpers import deployment, model, status
from tests.support.kubeapi import Kube


def test_a_template_whose_labels_do_not_match_the_selector_is_refused(kube: Kube) -> None:
    kube.seed(deployment("web"))
    apps = client.AppsV1Api(kube.api_client())
    canary_template = {
        "metadata": {"labels": {"app": "web-canary"}},
        "spec": {"containers": [{"name": "app", "image": "app:2"}]},
    }
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", "default", [{"op": "replace", "path": "/spec/template", "value": canary_template}]
        )
    assert err.value.status == 422
    assert status(err.value)["message"] == (
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web-canary"}: `selector` does not match template `labels`'
    )
    assert status(err.value)["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: map[string]string{"app":"web-canary"}: '
            "`selector` does not match template `labels`",
            "field": "spec.template.metadata.labels",
        }
    ]
    assert kube.log.writes() == []


def test_the_selector_is_immutable_and_required(kube: Kube) -> None:
    kube.seed(deployment("web"))
    apps = client.AppsV1Api(kube.api_client())
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", "default", {"spec": {"selector": {"matchLabels": {"app": "web", "x": "y"}}}}
        )
    assert err.value.status == 422
    fields = [c["field"] for c in status(err.value)["details"]["causes"]]
    assert fields == ["spec.template.metadata.labels", "spec.selector"]
    body = deployment("new")
    body["spec"]["selector"] = {}
    body["spec"]["template"]["spec"]["containers"][1]["image"] = ""
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", model(client.V1Deployment, body))
    assert err.value.status == 422
    assert status(err.value)["message"] == (
        'Deployment.apps "new" is invalid: [spec.selector: Invalid value: {}: empty selector is invalid for '
        "deployment, spec.template.spec.containers[1].image: Required value]"
    )


def test_an_event_must_live_in_the_namespace_of_its_object(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    event = {
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "shop"},
        "reason": "Shifted",
        "type": "Normal",
    }
    with pytest.raises(ApiException) as err:
        core.create_namespaced_event("default", model(client.CoreV1Event, event))
    assert err.value.status == 422
    assert status(err.value)["message"] == (
        'Event "web.1" is invalid: involvedObject.namespace: Invalid value: "shop": does not match event.namespace'
    )
    event["involvedObject"] = {"kind": "Deployment", "name": "web", "namespace": "default"}
    event["eventTime"] = "2024-01-01T00:00:00.000000Z"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_event("default", model(client.CoreV1Event, event))
    assert [c["field"] for c in status(err.value)["details"]["causes"]] == ["reportingComponent", "reportingInstance"]
    event |= {"reportingComponent": "progressive", "reportingInstance": "step-1"}
    made = core.create_namespaced_event("default", model(client.CoreV1Event, event))
    assert made.reporting_component == "progressive"


def test_events_k8s_io_events_need_their_required_fields(kube: Kube) -> None:
    events = client.EventsV1Api(kube.api_client())
    partial = {"metadata": {"name": "e"}, "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"}}
    with pytest.raises(ApiException) as err:
        events.create_namespaced_event(
            "default", model(client.EventsV1Event, {**partial, "eventTime": "2024-01-01T00:00:00.000000Z"})
        )
    assert [c["field"] for c in status(err.value)["details"]["causes"]] == [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
        "type",
    ]
    full = {
        **partial,
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "progressive.dev/step",
        "reportingInstance": "step-1",
        "action": "SetWeight",
        "reason": "Shifted",
        "type": "Normal",
        "note": "canary at 10%",
    }
    made = events.create_namespaced_event("default", model(client.EventsV1Event, full))
    assert made.note == "canary at 10%"


def test_label_and_annotation_rules_apply_to_every_kind(kube: Kube) -> None:
    core = client.CoreV1Api(kube.api_client())
    too_long = "r" * 64
    cm = {"metadata": {"name": "state", "labels": {"progressive.dev/rollout": too_long, "bad key": "x"}}}
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", model(client.V1ConfigMap, cm))
    assert err.value.status == 422
    causes = status(err.value)["details"]["causes"]
    assert [(c["field"], c["message"].split(": ", 2)[-1][:40]) for c in causes] == [
        ("metadata.labels", "must be no more than 63 characters"),
        ("metadata.labels", "name part must consist of alphanumeric c"),
    ]
    ok = {
        "metadata": {
            "name": "state",
            "labels": {"progressive.dev/rollout": "r" * 63},
            "annotations": {"a/b": "v" * 1000},
        }
    }
    core.create_namespaced_config_map("default", model(client.V1ConfigMap, ok))
    huge = {"metadata": {"annotations": {"progressive.dev/state": "x" * (256 * 1024)}}}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("state", "default", huge)
    assert status(err.value)["message"] == (
        'ConfigMap "state" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    )

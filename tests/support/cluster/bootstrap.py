"""What the cluster holds before anyone uses it: the pinned CRDs, Tekton's namespace and ConfigMaps, two Nodes.

Every deviation from upstream's files is made here, at load time, so it is visible in one place:

* Tekton's CRDs declare a conversion webhook, which this cluster does not run; only ``tekton.dev/v1`` is used, so
  ``spec.conversion`` becomes ``None`` (nothing is ever converted).
* Tekton's ConfigMaps get the overrides of :data:`TEKTON_OVERRIDES`: pods are ready at creation (no sidecar
  injection here), no affinity assistant, no credential init, no metrics or tracing exporters, and every TaskRun
  pod goes to the executor (``schedulerName: progressive-executor``).
* Only ``kind: CustomResourceDefinition`` documents are loaded (Gateway API ships a ValidatingAdmissionPolicy beside
  its CRDs).
* Traefik v2's file (``crds/traefik-v2``) contributes only its legacy group ``traefik.containo.us``: the
  ``traefik.io`` CRDs it also carries are v3's (``crds/traefik``), which win.

CRDs are created with the API (never client-side ``kubectl apply``: several are over its 256 KiB annotation limit).

Tekton's admission webhook is reached through the Service ``tekton-pipelines-webhook``, an ExternalName for
``localhost``: the API server resolves it to ``localhost:<port>`` (``ResolveCluster`` in k8s.io/apiserver), where a
relay leads into the webhook's network namespace, and verifies the certificate the webhook made for
``tekton-pipelines-webhook.tekton-pipelines.svc`` (knative fills each configuration's ``caBundle``). Its webhook
configurations (upstream's ``500-webhooks.yaml``) get that port; they are removed while Tekton's ConfigMaps are
written, because the config webhook (``failurePolicy: Fail``) would refuse that while the webhook is not yet up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes.client import ApiClient

from tests.support.cluster import rest
from tests.support.cluster.rest import ApiException

__all__ = [
    "EXECUTOR_NODE",
    "KWOK_NODE",
    "TEKTON_NAMESPACE",
    "TEKTON_OVERRIDES",
    "WEBHOOK_SERVICE",
    "bootstrap",
    "crd_documents",
    "tekton_webhook_configuration",
]

TEKTON_NAMESPACE = "tekton-pipelines"
KWOK_NODE = "kwok-0"
"""Runs the Deployments' pods (kwok makes them Running and Ready)."""
EXECUTOR_NODE = "executor-0"
"""Runs TaskRun pods (the executor plays its kubelet); tainted so the scheduler never puts other pods there."""
EXECUTOR_SCHEDULER = "progressive-executor"
WEBHOOK_SERVICE = "tekton-pipelines-webhook"

TEKTON_OVERRIDES: dict[str, dict[str, str]] = {
    "feature-flags": {
        "running-in-environment-with-injected-sidecars": "false",
        "coschedule": "disabled",
        "disable-creds-init": "true",
    },
    "config-observability": {"metrics-protocol": "none", "tracing-protocol": "none"},
    "config-defaults": {"default-pod-template": f"schedulerName: {EXECUTOR_SCHEDULER}\n"},
}

Obj = dict[str, Any]


def _yaml_documents(directory: Path) -> Iterator[Obj]:
    for path in sorted(directory.glob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict):
                yield document


def crd_documents(crds: Path) -> list[Obj]:
    """Every CRD of the build, with the load-time edits above."""
    found = []
    configuration = {"tekton-config", "tekton-webhook"}
    for directory in sorted(path for path in crds.iterdir() if path.is_dir() and path.name not in configuration):
        for document in _yaml_documents(directory):
            if document.get("kind") != "CustomResourceDefinition":
                continue
            if directory.name == "traefik-v2" and document["spec"]["group"] != "traefik.containo.us":
                continue
            if document["spec"]["group"] == "tekton.dev" or "conversion" in document["spec"]:
                document["spec"]["conversion"] = {"strategy": "None"}
            found.append(document)
    return found


CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def _collection(kind: str, namespace: str | None = None) -> str:
    where = f"/api/v1/namespaces/{namespace}" if namespace else "/api/v1"
    return {
        "CustomResourceDefinition": CRDS,
        "ValidatingWebhookConfiguration": f"{ADMISSION}/validatingwebhookconfigurations",
        "MutatingWebhookConfiguration": f"{ADMISSION}/mutatingwebhookconfigurations",
    }.get(kind, f"{where}/{kind.lower()}s")


def _create(api: ApiClient, obj: Obj, *, replace: bool = False) -> None:
    """Create ``obj``; when it exists already, leave it (or ``replace`` it with this version)."""
    namespace = obj["metadata"].get("namespace")
    collection = _collection(obj["kind"], namespace)
    try:
        rest.request(api, "POST", collection, obj)
    except ApiException as error:
        if error.status != 409:
            raise
        if replace:
            path = f"{collection}/{obj['metadata']['name']}"
            obj["metadata"]["resourceVersion"] = rest.request(api, "GET", path)["metadata"]["resourceVersion"]
            rest.request(api, "PUT", path, obj)


def _wait_established(api: ApiClient, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in sorted(pending):
            conditions = (rest.request(api, "GET", f"{CRDS}/{name}").get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                pending.discard(name)
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f} s: {', '.join(sorted(pending))}")
        if pending:
            time.sleep(0.2)


def _tekton_config(api: ApiClient, config_dir: Path) -> None:
    _create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TEKTON_NAMESPACE}})
    for configmap in _yaml_documents(config_dir):
        if configmap.get("kind") != "ConfigMap":
            continue
        configmap.setdefault("data", {}).update(TEKTON_OVERRIDES.get(configmap["metadata"]["name"], {}))
        configmap["metadata"]["namespace"] = TEKTON_NAMESPACE
        _create(api, configmap, replace=True)


def _webhook_configurations(crds: Path) -> list[Obj]:
    return [
        doc
        for doc in _yaml_documents(crds / "tekton-webhook")
        if doc.get("kind") in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    ]


def _remove_webhook_configurations(api: ApiClient, crds: Path) -> None:
    for doc in _webhook_configurations(crds):
        try:
            rest.request(api, "DELETE", f"{_collection(doc['kind'])}/{doc['metadata']['name']}")
        except ApiException as error:
            if error.status != 404:
                raise


def tekton_webhook_configuration(api: ApiClient, crds: Path, port: int) -> None:
    """The webhook's Service, Secret and configurations, pointing the API server at ``localhost:port``."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": WEBHOOK_SERVICE, "namespace": TEKTON_NAMESPACE},
        "spec": {
            "type": "ExternalName",
            "externalName": "localhost",
            "ports": [{"name": "https-webhook", "port": port}],
        },
    }
    _create(api, service, replace=True)
    for doc in _yaml_documents(crds / "tekton-webhook"):
        if doc.get("kind") == "Secret":
            _create(api, doc)
    for doc in _webhook_configurations(crds):
        for webhook in doc["webhooks"]:
            webhook["clientConfig"]["service"]["port"] = port
        _create(api, doc, replace=True)


def _nodes(api: ApiClient) -> None:
    nodes: list[Obj] = [
        {"metadata": {"name": KWOK_NODE, "labels": {"type": "kwok", "kubernetes.io/hostname": KWOK_NODE}}},
        {
            "metadata": {"name": EXECUTOR_NODE, "labels": {"kubernetes.io/hostname": EXECUTOR_NODE}},
            "spec": {"taints": [{"key": "progressive.test/executor", "value": "true", "effect": "NoSchedule"}]},
        },
    ]
    for node in nodes:
        _create(api, {"apiVersion": "v1", "kind": "Node", **node})


def bootstrap(api: ApiClient, crds: Path) -> list[str]:
    """Install CRDs, Tekton's configuration and the Nodes; return the CRD names once all are Established."""
    documents = crd_documents(crds)
    for crd in documents:
        _create(api, crd, replace=True)
    names = [crd["metadata"]["name"] for crd in documents]
    _wait_established(api, names)
    _remove_webhook_configurations(api, crds)
    _tekton_config(api, crds / "tekton-config")
    _nodes(api)
    return names

"""Fixtures for flag rollouts on the real local cluster: the FeatureFlag CRD, flag objects, a flagd stand-in."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from tests.flags.flagd_standin import running_flagd
from tests.support.cluster.access import Cluster
from tests.support.cluster.cluster import LocalCluster
from tests.support.cluster.rest import request

GROUP, VERSION, PLURAL = "core.openfeature.dev", "v1beta1", "featureflags"

FEATUREFLAG_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "names": {
            "kind": "FeatureFlag",
            "listKind": "FeatureFlagList",
            "plural": PLURAL,
            "singular": "featureflag",
            "shortNames": ["ff"],
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "flagSpec": {
                                        "type": "object",
                                        "properties": {
                                            "flags": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                            "$evaluators": {
                                                "type": "object",
                                                "x-kubernetes-preserve-unknown-fields": True,
                                            },
                                            "metadata": {
                                                "type": "object",
                                                "x-kubernetes-preserve-unknown-fields": True,
                                            },
                                        },
                                    }
                                },
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}
"""The FeatureFlag CRD as served by the OpenFeature Operator 0.9.2 (v1beta1 only), its flag map kept open
(the operator's schema types each flag; ``targeting`` is preserve-unknown JsonLogic there too)."""

CHECKOUT: dict[str, Any] = {
    "state": "ENABLED",
    "variants": {"on": True, "off": False},
    "defaultVariant": "off",
}


@pytest.fixture(scope="session")
def featureflag_crd(local_cluster: LocalCluster) -> None:
    """Install the FeatureFlag CRD once (kept in a reused cluster) and wait until it is served."""
    api = local_cluster.api_client()
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    try:
        request(api, "POST", path, FEATUREFLAG_CRD)
    except client.ApiException as error:
        if error.status != 409:
            raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        crd = request(api, "GET", f"{path}/{PLURAL}.{GROUP}")
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            return
        time.sleep(0.2)
    raise AssertionError("FeatureFlag CRD not established in 60s")


def create_featureflag(cluster: Cluster, name: str, flags: dict[str, Any]) -> dict[str, Any]:
    """A FeatureFlag in the test's namespace."""
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "FeatureFlag",
        "metadata": {"name": name},
        "spec": {"flagSpec": {"flags": flags}},
    }
    (created,) = cluster.create(body)
    return created


def get_featureflag(cluster: Cluster, name: str) -> dict[str, Any]:
    """The FeatureFlag ``name`` of the test's namespace as stored."""
    return cluster.must_get(f"{GROUP}/{VERSION}", "FeatureFlag", name)


def create_flag_configmap(cluster: Cluster, name: str, key: str, flags: dict[str, Any]) -> dict[str, Any]:
    """A ConfigMap holding a flagd document under ``key``."""
    document = {"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": flags}
    (created,) = cluster.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: json.dumps(document)}}
    )
    return created


def featureflag_flagd(cluster: Cluster, name: str) -> Any:
    """A flagd stand-in syncing FeatureFlag ``name`` (flagd's kubernetes sync)."""

    def read() -> tuple[str, dict[str, Any]]:
        obj = get_featureflag(cluster, name)
        return obj["metadata"]["resourceVersion"], obj["spec"]["flagSpec"]

    return running_flagd(read)


def configmap_flagd(cluster: Cluster, name: str, key: str) -> Any:
    """A flagd stand-in syncing the document in ConfigMap ``name`` key ``key`` (flagd's file sync of a mount)."""

    def read() -> tuple[str, dict[str, Any]]:
        obj = cluster.must_get("v1", "ConfigMap", name)
        return obj["metadata"]["resourceVersion"], json.loads(obj["data"][key])

    return running_flagd(read)

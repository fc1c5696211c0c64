"""Legacy (unaggregated) discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>[/<v>]``.

kubectl asks for aggregated discovery first (``Accept: ...;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``)
and falls back to these documents when the answer is plain ``application/json``, as against an older
server; the client's ``DynamicClient`` only ever uses these. OpenAPI endpoints answer 404, which kubectl
tolerates for ``get`` and ``patch``.
"""

from __future__ import annotations

from typing import Any

from tests.support.kubeapi.resources import VERBS, Registry, ResourceType

__all__ = ["KUBERNETES_VERSION", "api_group", "api_group_list", "api_resource_list", "api_versions", "version_info"]

KUBERNETES_VERSION = ("1", "32", "v1.32.0")

Doc = dict[str, Any]


def version_info() -> Doc:
    major, minor, git = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> Doc:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(registry: Registry, group: str) -> Doc | None:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> Doc:
    groups = [api_group(registry, g) for g in sorted(registry.group_versions()) if g]
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{k: v for k, v in g.items() if k not in ("kind", "apiVersion")} for g in groups if g],
    }


def _entry(rt: ResourceType) -> Doc:
    doc: Doc = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(VERBS),
    }
    if rt.short_names:
        doc["shortNames"] = list(rt.short_names)
    if rt.categories:
        doc["categories"] = list(rt.categories)
    return doc


def api_resource_list(registry: Registry, group: str, version: str) -> Doc | None:
    resources = registry.in_group_version(group, version)
    if not resources:
        return None
    entries: list[Doc] = []
    for rt in resources:
        entries.append(_entry(rt))
        if rt.scale:
            entries.append(
                {
                    "name": f"{rt.plural}/scale",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        if rt.status:
            entries.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }

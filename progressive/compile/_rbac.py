"""The ServiceAccount, Role and RoleBinding a rollout's steps run as.

The rules come from ``progressive.permissions.rollout_rules`` only, the single list of what the step
calls; this module just writes them as Kubernetes objects, with ``resourceNames`` wherever a rule has
names. Hook Tasks run as the same ServiceAccount and need nothing from the API.
"""

from __future__ import annotations

from typing import Any

from progressive.compile._pipeline import rollout_labels
from progressive.model import Rollout
from progressive.naming import rbac_name
from progressive.permissions import Rule, backend_services, rollout_rules

__all__ = ["rbac_documents", "role_rules"]


def role_rules(rollout: Rollout) -> tuple[Rule, ...]:
    """The permissions the rollout's steps need."""
    flags = rollout.router.step_flags(rollout.workload)
    return rollout_rules(
        rollout=rollout.name,
        router=rollout.router.type,
        routing_object=flags["name"],
        stable_deployment=rollout.workload.stable,
        canary_deployment=rollout.workload.canary,
        api_version=flags.get("api-version", ""),
        services=backend_services(
            rollout.router.type,
            rollout.namespace,
            (flags["stable"], flags["canary"]),
            istio_subsets=flags.get("istio-subsets") == "true",
        ),
    )


def _policy_rule(rule: Rule) -> dict[str, Any]:
    policy: dict[str, Any] = {"apiGroups": [rule.api_group], "resources": [rule.resource]}
    if rule.names:
        policy["resourceNames"] = list(rule.names)
    policy["verbs"] = list(rule.verbs)
    return policy


def rbac_documents(rollout: Rollout) -> list[dict[str, Any]]:
    """ServiceAccount, Role and RoleBinding, all named ``progressive-<rollout>``."""
    name = rbac_name(rollout.name)
    metadata = {
        "name": name,
        "namespace": rollout.namespace,
        "labels": rollout_labels(rollout),
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(metadata)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(metadata),
            "rules": [_policy_rule(rule) for rule in role_rules(rollout)],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(metadata),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": rollout.namespace}],
        },
    ]

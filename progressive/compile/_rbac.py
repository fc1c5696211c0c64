"""The ServiceAccount, Role and RoleBinding a rollout's steps run as, and the objects that keep powers apart.

The rules come from ``progressive.permissions`` only, the single list of what the step calls; this module
just writes them as Kubernetes objects, with ``resourceNames`` wherever a rule has names. Besides the steps'
own account it writes:

* ``progressive-<rollout>-hooks``: the ServiceAccount of ``Run`` hooks that name none of their own, with no
  Role and ``automountServiceAccountToken: false``, so a hook image gets no API token at all;
* ``progressive-<rollout>-approvals``: the (empty) Secret approvals are written to; the steps' account may
  only read it, and cannot create Secrets, so neither it nor a hook can approve;
* ``progressive-<rollout>-approver``: a Role with what ``progressive approve`` / ``abort`` need, bound to no
  one: people get it with ``kubectl create rolebinding ... --role progressive-<rollout>-approver --user ...``.
"""

from __future__ import annotations

from typing import Any

from progressive.compile._pipeline import rollout_labels
from progressive.model import Rollout, Run
from progressive.naming import approvals_secret, approver_role, hooks_service_account, rbac_name
from progressive.permissions import Rule, approver_rules, backend_services, rollout_rules

__all__ = ["rbac_documents", "role_rules", "uses_hooks_account"]


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
        flag_object=None if rollout.flag is None else (rollout.flag.source.kind, rollout.flag.source.name),
    )


def _policy_rule(rule: Rule) -> dict[str, Any]:
    policy: dict[str, Any] = {"apiGroups": [rule.api_group], "resources": [rule.resource]}
    if rule.names:
        policy["resourceNames"] = list(rule.names)
    policy["verbs"] = list(rule.verbs)
    return policy


def uses_hooks_account(rollout: Rollout) -> bool:
    """Whether some ``Run`` hook runs as ``progressive-<rollout>-hooks`` (names no ServiceAccount of its own)."""
    return any(isinstance(step, Run) and step.service_account is None for step in rollout.steps)


def _metadata(rollout: Rollout, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": rollout.namespace, "labels": rollout_labels(rollout)}


def rbac_documents(rollout: Rollout) -> list[dict[str, Any]]:
    """The steps' ServiceAccount, Role and RoleBinding, then the hooks' account, approvals Secret, approver Role.

    See the module docstring.
    """
    name = rbac_name(rollout.name)
    metadata = _metadata(rollout, name)
    documents: list[dict[str, Any]] = [
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
    if uses_hooks_account(rollout):
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": _metadata(rollout, hooks_service_account(rollout.name)),
                "automountServiceAccountToken": False,
            }
        )
    documents += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _metadata(rollout, approvals_secret(rollout.name)),
            "type": "Opaque",
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _metadata(rollout, approver_role(rollout.name)),
            "rules": [_policy_rule(rule) for rule in approver_rules(rollout.name)],
        },
    ]
    return documents

"""What the step touches in the cluster: the single source of the rollout's RBAC rules.

The compiler turns these into the rollout's Role (least privilege, ``resourceNames`` wherever the name
is known); the step's tests run every command against a real API server with that Role enforced (and
check the audit log for grants no command uses), so a call the step makes but this module does not grant fails a
test. Pure standard library.
"""

from __future__ import annotations

from dataclasses import dataclass

from progressive.naming import approvals_secret, state_configmap

__all__ = [
    "ROUTER_RESOURCES",
    "Rule",
    "approver_rules",
    "backend_services",
    "flag_rule",
    "rollout_rules",
    "router_resource",
]

READ_WRITE = ("get", "update")
"""The step reads and replaces objects (optimistic concurrency on ``resourceVersion``); it never patches."""


@dataclass(frozen=True, slots=True, order=True)
class Rule:
    """One RBAC policy rule."""

    api_group: str
    resource: str
    verbs: tuple[str, ...]
    names: tuple[str, ...] = ()
    """``resourceNames``; empty means every object of the resource (needed for create and list)."""


ROUTER_RESOURCES: dict[str, tuple[str, str]] = {
    "gateway-api": ("gateway.networking.k8s.io", "httproutes"),
    "istio": ("networking.istio.io", "virtualservices"),
    "nginx": ("networking.k8s.io", "ingresses"),
    "traefik": ("traefik.io", "traefikservices"),
    "smi": ("split.smi-spec.io", "trafficsplits"),
    "contour": ("projectcontour.io", "httpproxies"),
    "replicas": ("apps", "deployments"),
}
"""Router -> (API group, resource) of its routing object at the default apiVersion."""


def router_resource(router: str, api_version: str = "") -> tuple[str, str]:
    """(API group, resource) of the routing object; ``api_version`` overrides the group when given."""
    group, resource = ROUTER_RESOURCES[router]
    if api_version and "/" in api_version:
        group = api_version.split("/", 1)[0]
    return group, resource


def backend_services(
    router: str, namespace: str, backends: tuple[str, str], *, istio_subsets: bool = False
) -> tuple[str, ...]:
    """The Services in ``namespace`` a router's backends name: what the first stage's preflight reads.

    Istio hosts count when short (``shop``) or this namespace's FQDN (``shop.<namespace>.svc...``); other
    hosts (ServiceEntries, other namespaces) and subsets are not Services here. The replica router has none.
    """
    if router == "replicas" or (router == "istio" and istio_subsets):
        return ()
    names: list[str] = []
    for backend in backends:
        service = backend
        if router == "istio" and "." in backend:
            service, _, rest = backend.partition(".")
            if not (rest == namespace or rest.startswith(f"{namespace}.svc")):
                continue
        if service not in names:
            names.append(service)
    return tuple(names)


def rollout_rules(
    *,
    rollout: str,
    router: str,
    routing_object: str,
    stable_deployment: str,
    canary_deployment: str,
    api_version: str = "",
    services: tuple[str, ...] = (),
    flag_object: tuple[str, str] | None = None,
) -> tuple[Rule, ...]:
    """Every permission the steps of one rollout need, merged and sorted (deterministic output).

    ``flag_object``: ``(source, name)`` of the object holding the flag that ``flag-set`` ramps, if any.
    """
    deployments = tuple(sorted({stable_deployment, canary_deployment}))
    rules: list[Rule] = [
        # state record: created on first use, then read-modify-write by name
        Rule("", "configmaps", ("create",)),
        Rule("", "configmaps", READ_WRITE, (state_configmap(rollout),)),
        # approvals: the approve step reads them; only people bound to the approver Role write them
        Rule("", "secrets", ("get",), (approvals_secret(rollout),)),
        # one Event per transition, on the canary Deployment
        Rule("", "events", ("create",)),
        # deploy, promote, rollback, replica ratio
        Rule("apps", "deployments", READ_WRITE, deployments),
        # deploy reports why pods of a Deployment are not becoming available
        Rule("", "pods", ("list",)),
        # one run at a time: the rollout's Lease (progressive.step.run_lock). ``create`` cannot be limited by
        # resourceNames (the name is in the body, not the URL), so it is granted for the namespace
        Rule("coordination.k8s.io", "leases", ("create",)),
        Rule("coordination.k8s.io", "leases", READ_WRITE, (state_configmap(rollout),)),
        # the first step reads its own PipelineRun's timeouts (progressive.step.run_timeouts); a run's name is
        # generated, so resourceNames cannot name it
        Rule("tekton.dev", "pipelineruns", ("get",)),
    ]
    if services:  # deploy's preflight: each backend Service exists
        rules.append(Rule("", "services", ("get",), tuple(sorted(services))))
    if flag_object is not None:
        rules.append(flag_rule(*flag_object))
    group, resource = router_resource(router, api_version)
    if router == "nginx":
        canary_ingress = f"{routing_object}-canary"
        rules += [
            Rule(group, resource, ("get",), (routing_object,)),
            Rule(group, resource, ("create",)),
            Rule(group, resource, (*READ_WRITE, "delete"), (canary_ingress,)),
        ]
    elif router != "replicas":
        rules.append(Rule(group, resource, READ_WRITE, (routing_object,)))
    return tuple(sorted(rules))


def flag_rule(source: str, name: str) -> Rule:
    """What ``flag-set`` needs on the object holding the flag: a FeatureFlag is merge-patched, a ConfigMap replaced."""
    if source == "featureflag":
        return Rule("core.openfeature.dev", "featureflags", ("get", "patch"), (name,))
    return Rule("", "configmaps", READ_WRITE, (name,))


def approver_rules(rollout: str) -> tuple[Rule, ...]:
    """What ``progressive approve`` and ``progressive abort`` need: the people who may decide get these.

    Approving writes the approvals Secret, which the rollout's ServiceAccount can only read; aborting writes
    the state record (stopping only ever sends traffic back to stable). Both read the record to check the
    decision applies, and record an Event. No ``create`` on Secrets: the compiled Secret already exists.
    """
    return tuple(
        sorted(
            [
                Rule("", "secrets", READ_WRITE, (approvals_secret(rollout),)),
                Rule("", "configmaps", READ_WRITE, (state_configmap(rollout),)),
                Rule("", "events", ("create",)),
            ]
        )
    )

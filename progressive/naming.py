"""Names progressive derives from a rollout's name; shared by the model, the compiler and the step.

Kubernetes names are limited to 63 characters, so the model checks every derived name at construction
and the compiler and the step derive them the same way. Pure standard library.
"""

from __future__ import annotations

import re

__all__ = [
    "DNS_LABEL_MAX",
    "DNS_LABEL_PATTERN",
    "DNS_SUBDOMAIN_MAX",
    "RESOURCE_PREFIX",
    "TASK_RUN_SPECS_ANNOTATION",
    "approvals_secret",
    "approver_role",
    "hook_task",
    "hooks_service_account",
    "is_dns_label",
    "is_dns_subdomain",
    "rbac_name",
    "state_configmap",
]

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
DNS_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_DNS_SUBDOMAIN = re.compile(rf"{DNS_LABEL_PATTERN}(\.{DNS_LABEL_PATTERN})*")

RESOURCE_PREFIX = "progressive-"
"""Prefix of the state ConfigMap and of the ServiceAccount, Role and RoleBinding of a rollout."""

TASK_RUN_SPECS_ANNOTATION = "progressive.dev/task-run-specs"
"""Pipeline annotation holding the PipelineRun ``taskRunSpecs`` (JSON) that give hooks their own ServiceAccount:
written by the compiler, copied by ``progressive start``."""


def is_dns_label(value: str) -> bool:
    """RFC 1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, <= 63."""
    return len(value) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(value) is not None


def is_dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain: dot-separated labels, <= 253 characters."""
    return len(value) <= DNS_SUBDOMAIN_MAX and _DNS_SUBDOMAIN.fullmatch(value) is not None


def state_configmap(rollout: str) -> str:
    """ConfigMap that holds a rollout's state record (stage, weights, evidence, approvals)."""
    return f"{RESOURCE_PREFIX}{rollout}"


def rbac_name(rollout: str) -> str:
    """Name of the ServiceAccount, Role and RoleBinding the rollout's steps run as."""
    return f"{RESOURCE_PREFIX}{rollout}"


def hooks_service_account(rollout: str) -> str:
    """ServiceAccount ``Run`` hooks run as unless the hook names its own: no permissions, no token mounted."""
    return f"{RESOURCE_PREFIX}{rollout}-hooks"


def approvals_secret(rollout: str) -> str:
    """Secret holding approvals: approvers write it, the rollout's ServiceAccount can only read it.

    A Secret, not a ConfigMap, because the rollout's ServiceAccount may create ConfigMaps (its state record)
    and so could create this object itself when it is missing; it cannot create Secrets.
    """
    return f"{RESOURCE_PREFIX}{rollout}-approvals"


def approver_role(rollout: str) -> str:
    """Role people are bound to so that they may approve or abort the rollout."""
    return f"{RESOURCE_PREFIX}{rollout}-approver"


def hook_task(rollout: str, hook: str) -> str:
    """Name of the Task generated for a ``Run`` hook."""
    return f"{rollout}-{hook}"

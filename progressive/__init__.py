"""progressive: progressive delivery for Tekton.

Declare a canary rollout as typed Python, compile it with ``progressive compile`` into plain
``tekton.dev/v1`` Tasks and a Pipeline, and run it on any Tekton install.

The model classes are loaded on first use (PEP 562), so ``progressive step`` in a Tekton container
starts without importing pydantic; ``from progressive import Rollout`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from progressive._version import __version__

if TYPE_CHECKING:
    from progressive.errors import ConfigError, ProgressiveError, StepError
    from progressive.model import (
        SMI,
        Analysis,
        Analyze,
        Approve,
        Contour,
        GatewayAPI,
        Istio,
        ModelError,
        NginxIngress,
        Notifications,
        Pause,
        Prometheus,
        ReplicaRatio,
        RollbackPolicy,
        Rollout,
        Run,
        SequentialJudge,
        SetWeight,
        ThresholdCheck,
        ThresholdJudge,
        Timeouts,
        Traefik,
        Webhook,
        Workload,
    )
    from progressive.model.versions import (
        App,
        Configuration,
        Version,
        VersionsContour,
        VersionsGatewayAPI,
        VersionsIstio,
        VersionsNginx,
        VersionsReplicas,
        VersionsSMI,
        VersionsTraefik,
    )

__all__ = [
    "SMI",
    "Analysis",
    "Analyze",
    "App",
    "Approve",
    "ConfigError",
    "Configuration",
    "Contour",
    "GatewayAPI",
    "Istio",
    "ModelError",
    "NginxIngress",
    "Notifications",
    "Pause",
    "ProgressiveError",
    "Prometheus",
    "ReplicaRatio",
    "RollbackPolicy",
    "Rollout",
    "Run",
    "SequentialJudge",
    "SetWeight",
    "StepError",
    "ThresholdCheck",
    "ThresholdJudge",
    "Timeouts",
    "Traefik",
    "Version",
    "VersionsContour",
    "VersionsGatewayAPI",
    "VersionsIstio",
    "VersionsNginx",
    "VersionsReplicas",
    "VersionsSMI",
    "VersionsTraefik",
    "Webhook",
    "Workload",
    "__version__",
]

_ERRORS = {"ConfigError", "ProgressiveError", "StepError"}
_VERSIONS = {
    "App",
    "Configuration",
    "Version",
    "VersionsContour",
    "VersionsGatewayAPI",
    "VersionsIstio",
    "VersionsNginx",
    "VersionsReplicas",
    "VersionsSMI",
    "VersionsTraefik",
}


def __getattr__(name: str) -> Any:
    if name in _ERRORS:
        return getattr(importlib.import_module("progressive.errors"), name)
    if name in _VERSIONS:
        return getattr(importlib.import_module("progressive.model.versions"), name)
    if name in __all__:
        return getattr(importlib.import_module("progressive.model"), name)
    raise AttributeError(f"module 'progressive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

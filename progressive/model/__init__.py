"""What users declare: a ``Rollout`` and its parts. Frozen pydantic models, validated at construction."""

from progressive.model._base import (
    Duration,
    ModelError,
    check_image,
    duration_seconds,
    format_duration,
    format_errors,
)
from progressive.model.analysis import (
    BUILTIN_CHECKS,
    Analysis,
    Judge,
    Prometheus,
    SequentialJudge,
    ThresholdCheck,
    ThresholdJudge,
)
from progressive.model.plan import Plan, Stage, build_plan
from progressive.model.policy import Notifications, RollbackPolicy, Timeouts, Webhook
from progressive.model.rollout import DEFAULT_STEP_IMAGE, ROLLOUT_NAME_MAX, Rollout
from progressive.model.routers import (
    SMI,
    Contour,
    GatewayAPI,
    Istio,
    NginxIngress,
    ReplicaRatio,
    Router,
    Traefik,
)
from progressive.model.steps import Analyze, Approve, Pause, Run, SetWeight, Step
from progressive.model.workload import Workload

__all__ = [
    "BUILTIN_CHECKS",
    "DEFAULT_STEP_IMAGE",
    "ROLLOUT_NAME_MAX",
    "SMI",
    "Analysis",
    "Analyze",
    "Approve",
    "Contour",
    "Duration",
    "GatewayAPI",
    "Istio",
    "Judge",
    "ModelError",
    "NginxIngress",
    "Notifications",
    "Pause",
    "Plan",
    "Prometheus",
    "ReplicaRatio",
    "RollbackPolicy",
    "Rollout",
    "Router",
    "Run",
    "SequentialJudge",
    "SetWeight",
    "Stage",
    "Step",
    "ThresholdCheck",
    "ThresholdJudge",
    "Timeouts",
    "Traefik",
    "Webhook",
    "Workload",
    "build_plan",
    "check_image",
    "duration_seconds",
    "format_duration",
    "format_errors",
]

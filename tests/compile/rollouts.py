"""Rollouts that cover every router, judge, gate and option, for the compiler's tests."""

from __future__ import annotations

from typing import Any

from progressive import Rollout
from tests.model.factories import rollout_dict

ROUTERS: dict[str, dict[str, Any]] = {
    "gateway-api": {"type": "gateway-api", "route": "shop", "stable_service": "shop", "canary_service": "shop-canary"},
    "istio-hosts": {
        "type": "istio",
        "virtual_service": "shop",
        "stable": "shop.prod.svc.cluster.local",
        "canary": "shop-canary",
    },
    "istio-subsets": {
        "type": "istio",
        "virtual_service": "shop",
        "stable": "v1",
        "canary": "v2",
        "subsets": True,
        "routes": ["primary", "api"],
        "api_version": "networking.istio.io/v1beta1",
    },
    "nginx": {"type": "nginx", "ingress": "shop", "stable_service": "shop", "canary_service": "shop-canary"},
    "traefik": {
        "type": "traefik",
        "traefik_service": "shop",
        "stable_service": "shop",
        "canary_service": "shop-canary",
        "api_version": "traefik.containo.us/v1alpha1",
    },
    "smi": {"type": "smi", "traffic_split": "shop", "stable_service": "shop", "canary_service": "shop-canary"},
    "contour": {"type": "contour", "http_proxy": "shop", "stable_service": "shop", "canary_service": "shop-canary"},
    "replicas": {"type": "replicas"},
}

THRESHOLD = {
    "type": "threshold",
    "checks": [
        {"name": "success", "metric": "request-success-rate", "min": 99},
        {"name": "slow", "metric": "slow-request-share", "le": 0.5, "max": 5, "interval": "30s", "count": 4},
        {"name": "custom", "query": 'sum(rate(errors_total{app="{{ target }}"}[{{ interval }}]))', "max": 1},
    ],
    "on_no_data": "inconclusive",
}


def everything() -> Rollout:
    """Every gate and option at once: webhooks of all types, hook, approval, notifications, secrets, containers."""
    return Rollout.model_validate(
        rollout_dict(
            name="everything",
            workload={"stable": "shop", "canary": "shop-canary", "containers": ["app", "proxy"], "canary_replicas": 2},
            steps=[
                {
                    "kind": "run",
                    "name": "smoke",
                    "image": "busybox:1.36",
                    "command": ["sh", "-c"],
                    "args": ["true"],
                    "env": {"NEW_IMAGE": "$(params.image-app)", "RUN": "$(context.pipelineRun.name)"},
                    "timeout": "2m",
                },
                {"kind": "set-weight", "weight": 10},
                {"kind": "analyze", "min_duration": "1m", "max_duration": "4m"},
                {"kind": "pause", "duration": "1m"},
                {"kind": "approve", "timeout": "20m"},
                {"kind": "set-weight", "weight": 100},
            ],
            analysis={
                "prometheus": {"url": "https://prom.example:9091", "secret": "prom-token", "query_timeout": "10s"},
                "provider": "istio",
                "judge": {"type": "sequential", "latency_threshold": 0.25, "on_inconclusive": "hold"},
                "service": "shop-apex",
            },
            webhooks=[
                {"name": "window", "type": "confirm-rollout", "url": "http://gate.test/window", "gate_timeout": "10m"},
                {
                    "name": "load",
                    "type": "pre-rollout",
                    "url": "http://gate.test/load",
                    "metadata": {"cmd": "hey -z 1m"},
                },
                {
                    "name": "more",
                    "type": "confirm-traffic-increase",
                    "url": "http://gate.test/more",
                    "gate_timeout": "5m",
                },
                {"name": "ship", "type": "confirm-promotion", "url": "http://gate.test/ship", "gate_timeout": "5m"},
                {"name": "stop", "type": "rollback", "url": "http://gate.test/stop"},
                {"name": "tell", "type": "post-rollout", "url": "http://gate.test/tell"},
            ],
            notifications={"secret": "shop-notify"},
            rollback={"mode": "stepped", "step_weight": 50, "step_interval": "10s"},
            timeouts={"pipeline": "4h", "finally": "30m"},
            image="registry.example.com/progressive:0.1.0@sha256:" + "ab" * 32,
        )
    )


def per_router(router: str, **overrides: Any) -> Rollout:
    """The default rollout on one router."""
    return Rollout.model_validate(rollout_dict(router=ROUTERS[router], **overrides))


def threshold_rollout() -> Rollout:
    return Rollout.model_validate(
        rollout_dict(name="thresholds", analysis={"prometheus": {"url": "http://p:9090"}, "judge": THRESHOLD})
    )


def all_rollouts() -> list[Rollout]:
    return [everything(), threshold_rollout(), *(per_router(name, name=f"r-{name}") for name in ROUTERS)]

"""Small builders of valid model input, for tests that change one field at a time."""

from __future__ import annotations

from typing import Any


def rollout_dict(**overrides: Any) -> dict[str, Any]:
    """A valid Rollout as a dict (Gateway API, one analysis); ``overrides`` replace top-level keys."""
    data: dict[str, Any] = {
        "name": "shop",
        "namespace": "prod",
        "workload": {"stable": "shop", "canary": "shop-canary"},
        "router": {"type": "gateway-api", "route": "shop", "stable_service": "shop", "canary_service": "shop-canary"},
        "steps": [{"kind": "set-weight", "weight": 10}, {"kind": "analyze"}, {"kind": "set-weight", "weight": 50}],
        "analysis": {"prometheus": {"url": "http://prometheus:9090"}},
    }
    data.update(overrides)
    return data

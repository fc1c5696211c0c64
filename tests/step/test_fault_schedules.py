"""Never half-shifted: seeded random fault schedules against ``set-weight``, and only two possible endings.

Each schedule seeds the HTTPRoute fixture at some weight, injects a reproducible mix of faults into the
in-repo API server (409 bursts, 429, 500/503/504, connections refused or reset, answers cut after the
status line or mid-body, writes committed whose answer is lost, slow answers, read timeouts, and
sometimes one error that is not retried: 403/422), then runs ``progressive step set-weight`` in-process.

Every run must end in exactly one of:

- **at W, verified**: exit 0 and every rule of the stored route at W, nothing but weights changed;
- **clean error, unchanged**: a non-zero exit with one JSON error line and the stored route as it was
  (apart from server-managed metadata: a write that was applied and then put back bumps
  ``resourceVersion``).

Anything else is a third outcome and fails the test. Both outcomes must occur (the schedules really do
reach both), and the counts are printed.

Fault model, stated plainly: any number of transient faults per operation below the retry bound, and at
most one non-retried error per run. Two non-retried errors (the write's follow-up fails *and* the undo
fails) could leave the route at W with an error: that is reported as such by the step ("putting the
previous weights back failed too") but is outside this test. Read timeouts are injected on reads only: a
write that times out on the client yet is applied by the server afterwards cannot be fenced without
touching the object (see docs/step.md, "Retries").
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from typing import Any

import pytest

from progressive.kube import retry
from progressive.routers import gateway_api
from progressive.routers.base import Target
from tests.routers.routing_support import load, set_path, stripped
from tests.step.stepcli import ROUTE_FLAGS, argv, run_step
from tests.support.kubeapi import (
    Fault,
    Kube,
    conflict,
    drop,
    gateway_timeout,
    response_lost,
    server_error,
    slow,
    too_many_requests,
    unavailable,
)

SCHEDULES = 520
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront", "shop")
TARGET = Target("gateway-api", "shop", "storefront", "storefront", "storefront-canary")
REQUEST_TIMEOUT = 1.0


def _compressed(seconds: float) -> None:
    """Waits shrink 100-fold (a 429's one-second Retry-After costs 10 ms); the order of events is kept."""
    time.sleep(seconds / 100)


FAST = retry.Backoff(first=0.1, maximum=5.0, attempts=10, request_timeout=REQUEST_TIMEOUT, sleep=_compressed)

TRANSIENT: list[tuple[str, Any]] = [
    ("409", conflict),
    ("429", lambda: too_many_requests(retry_after=0)),
    ("500", server_error),
    ("503", unavailable),
    ("504", gateway_timeout),
    ("refused-before-response", lambda: drop("before-response")),
    ("reset", lambda: drop("reset")),
    ("cut-after-status-line", lambda: drop("after-status-line")),
    ("cut-mid-body", lambda: drop("mid-body")),
    ("write-applied-answer-lost", response_lost),
    ("slow", lambda: slow(0.02)),
]
PERMANENT: list[tuple[str, Any]] = [
    ("403", lambda: Fault("status", code=403)),
    ("422", lambda: Fault("status", code=422)),
]


def _route_at(weight: int) -> dict[str, Any]:
    obj = load("httproute.yaml")
    for split in gateway_api.find(obj, TARGET).splits:
        set_path(obj, (*split.stable.path, "weight"), 100 - weight)
        set_path(obj, (*split.canary.path, "weight"), weight)
    return obj


def _expected_at(before: dict[str, Any], weight: int) -> dict[str, Any]:
    expected = copy.deepcopy(before)
    for split in gateway_api.find(before, TARGET).splits:
        if not split.place().at(weight):
            set_path(expected, (*split.stable.path, "weight"), 100 - weight)
            set_path(expected, (*split.canary.path, "weight"), weight)
    return expected


def _schedule(kube: Kube, rng: random.Random) -> list[str]:
    """Add this schedule's faults; return their descriptions (for the failure message)."""
    described = []
    for _ in range(rng.randint(0, 6)):
        name, make = rng.choice(TRANSIENT)
        verb = rng.choice(["get", "update", "create", None])
        resource = rng.choice(["httproutes", "configmaps", None])
        times = rng.choice([1, 1, 1, 2, 3])
        kube.faults.add(make(), verb=verb, resource=resource, times=times, after=rng.randint(0, 4))
        described.append(f"{name} x{times} on {verb or 'any'} {resource or 'any'}")
    if rng.random() < 0.15:
        name, make = rng.choice(PERMANENT)
        verb = rng.choice(["get", "update", "create"])
        resource = rng.choice(["httproutes", "configmaps"])
        kube.faults.add(make(), verb=verb, resource=resource, times=1, after=rng.randint(0, 3))
        described.append(f"{name} once on {verb} {resource}")
    if rng.random() < 0.03:  # a read that takes longer than the request timeout
        kube.faults.add(slow(REQUEST_TIMEOUT + 0.2), verb="get", resource="httproutes", after=rng.randint(0, 2))
        described.append("read timeout on get httproutes")
    return described


def test_every_schedule_ends_at_w_or_unchanged(
    kube_env: Kube, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "BACKOFF", FAST)
    outcomes: Counter[str] = Counter()
    for seed in range(SCHEDULES):
        rng = random.Random(seed)
        kube_env.server.reset(seed=seed)
        start, weight = rng.choice([0, 0, 10, 50]), rng.choice([5, 10, 25, 50, 75, 100])
        if start == weight:
            weight = 100 - start if start != 50 else 20
        kube_env.seed(_route_at(start))
        before = kube_env.raw(*ROUTE)
        assert before is not None
        faults = _schedule(kube_env, rng)
        result = run_step(capsys, *argv("set-weight", **ROUTE_FLAGS, weight=str(weight), wait_accepted="false"))
        kube_env.faults.reset(seed=seed)
        after = kube_env.raw(*ROUTE)
        assert after is not None
        context = f"seed {seed}: {start} -> {weight} with {faults}: exit {result.code} {result.lines[-1:]}"
        assert "Traceback" not in result.stderr, context
        if result.code == 0:
            assert gateway_api.find(after, TARGET).reading().canary == weight, context
            assert stripped(after) == stripped(_expected_at(before, weight)), context
            summary = [line for line in result.lines if line.get("event", "").startswith("TrafficWeight")]
            assert [line["canary"] for line in summary] == [weight], context
            outcomes["at W, verified"] += 1
        else:
            assert stripped(after) == stripped(before), context
            assert result.last.get("exit") == result.code and result.last.get("error"), context
            outcomes["clean error, unchanged"] += 1
            outcomes[f"exit {result.code}"] += 1
            if result.last["error"].endswith("the previous weights were put back"):
                outcomes["of which written, then put back"] += 1
    with capsys.disabled():
        print(f"\n{SCHEDULES} fault schedules: {dict(outcomes)}")
    assert outcomes["at W, verified"] + outcomes["clean error, unchanged"] == SCHEDULES
    assert outcomes["at W, verified"] > 0 and outcomes["clean error, unchanged"] > 0
    assert outcomes["of which written, then put back"] > 0  # the hard case really happens

"""Istio canary with Flagger's built-in checks, ported unchanged: success rate >= 99%, p99 <= 500 ms.

The ``VirtualService`` ``reviews`` routes to one host, ``reviews``, and a ``DestinationRule`` the team
owns defines two subsets: ``stable`` and ``canary`` (pods labelled by version). This rollout moves the
``primary`` http route's weights between the two subsets; other routes in the VirtualService (a
header-matched test route, for instance) are left as they are.

The checks are the threshold judge: the same semantics as Flagger's ``analysis.metrics`` and Argo's
``AnalysisTemplate`` (interval, count, min/max, failure limit), so a team moving from Flagger keeps its
numbers. ``request-success-rate`` is in percent and ``request-duration`` is the p99 in milliseconds,
Flagger's units, computed from Istio's standard metrics (``istio_requests_total``,
``istio_request_duration_milliseconds_bucket``, reporter ``destination``). A measurement without data
counts as a failure, never as a pass: a canary that gets no traffic does not get promoted.

Rollback is stepped: the canary's weight goes down 20% every 30 seconds, and before each step the stable
Deployment must be available and big enough for the share it is about to take (a stable scaled down by
an autoscaler while the canary served is not flooded at once).
"""

from progressive import (
    Analysis,
    Analyze,
    Istio,
    Pause,
    Prometheus,
    RollbackPolicy,
    Rollout,
    SetWeight,
    ThresholdCheck,
    ThresholdJudge,
    Workload,
)

reviews = Rollout(
    name="reviews",
    namespace="bookinfo",
    workload=Workload(stable="reviews-v1", canary="reviews-v2"),
    router=Istio(
        virtual_service="reviews",
        stable="stable",
        canary="canary",
        subsets=True,
        routes=("primary",),
    ),
    steps=[
        SetWeight(weight=10),
        Analyze(),
        SetWeight(weight=30),
        Analyze(),
        SetWeight(weight=60),
        Pause(duration="2m"),
        Analyze(),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url="http://prometheus.istio-system:9090"),
        provider="istio",
        judge=ThresholdJudge(
            checks=(
                ThresholdCheck(name="success-rate", metric="request-success-rate", min=99, interval="1m", count=5),
                ThresholdCheck(
                    name="latency-p99",
                    metric="request-duration",
                    max=500,
                    interval="1m",
                    count=5,
                    failure_limit=1,
                ),
            ),
            on_no_data="fail",
        ),
    ),
    rollback=RollbackPolicy(mode="stepped", step_weight=20, step_interval="30s"),
)

"""Gateway API canary with the sequential judge: 5%, 10%, 25%, 50%, then promotion.

The shop's ``HTTPRoute`` ``shop`` sends traffic to two Services, ``shop`` (pods of the Deployment ``shop``)
and ``shop-canary`` (pods of ``shop-canary``). Each run deploys the new image to ``shop-canary`` and moves
traffic to it in four steps. After every step the canary is judged against the stable pods serving at
the same time (the concurrent baseline) from Envoy Gateway's metrics in Prometheus: the sequential judge
passes a stage as soon as the canary is clearly no worse (never before ``min_duration``), fails it as
soon as the canary is clearly worse, and keeps the chance of rolling back a healthy release under 5%
however often it looks. When the evidence is still thin at ``max_duration`` (little traffic) the rollout
advances (``on_inconclusive="advance"``): the next, bigger step brings more evidence, and a bad canary is
still caught there.

The metrics are Envoy Gateway's upstream-cluster statistics. Envoy Gateway puts all backendRefs of an
HTTPRoute rule into one Envoy cluster unless a backendRef has filters of its own; the shop's route gives
each backendRef a (no-op) ``RequestHeaderModifier`` filter, so the stable and canary Services are the
clusters ``httproute/shop/shop/rule/0/backend/0`` and ``.../backend/1``, named below. Swapping them would
invert every verdict, so they are stated, not guessed.

Prometheus needs a bearer token: it is read from the Secret ``prometheus-reader`` (key ``token``),
mounted as a file into the analysis step; it never appears in a param, a result or a log.

If any stage fails, times out or the run is cancelled with ``--grace CancelledRunFinally``, the rollback
in ``finally`` sends all traffic back to ``shop`` and scales the canary down.

Compile it::

    progressive plan examples/gateway_api_canary.py
    progressive compile examples/gateway_api_canary.py -o pipelines
"""

from progressive import (
    Analysis,
    Analyze,
    GatewayAPI,
    Prometheus,
    Rollout,
    SequentialJudge,
    SetWeight,
    Timeouts,
    Workload,
)

shop = Rollout(
    name="shop",
    namespace="shop",
    workload=Workload(stable="shop", canary="shop-canary", progress_deadline="5m"),
    router=GatewayAPI(route="shop", stable_service="shop", canary_service="shop-canary"),
    steps=[
        SetWeight(weight=5),
        Analyze(min_duration="2m", max_duration="10m"),
        SetWeight(weight=10),
        Analyze(min_duration="2m", max_duration="10m"),
        SetWeight(weight=25),
        Analyze(min_duration="2m", max_duration="10m"),
        SetWeight(weight=50),
        Analyze(min_duration="5m", max_duration="15m"),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url="http://prometheus.monitoring:9090", secret="prometheus-reader"),
        provider="envoy-gateway",
        stable_cluster="httproute/shop/shop/rule/0/backend/0",
        canary_cluster="httproute/shop/shop/rule/0/backend/1",
        judge=SequentialJudge(alpha=0.05, interval="30s", on_inconclusive="advance"),
    ),
    timeouts=Timeouts(pipeline="3h", finally_="20m"),
)

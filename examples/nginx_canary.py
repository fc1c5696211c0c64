"""ingress-nginx canary: weighted canary Ingress, judged from the controller's metrics.

The ``Ingress`` ``web`` sends ``web.example.com`` to the Service ``web``. For the canary the step creates
a second Ingress, ``web-canary``, with only the rules that point at ``web``, switched to ``web-canary``
and annotated ``nginx.ingress.kubernetes.io/canary: "true"`` and ``canary-weight``; the user's Ingress is
never edited, and the canary Ingress is removed at promotion or rollback.

Analysis reads ``nginx_ingress_controller_requests`` and its latency histogram for the Ingress ``web``
(the ``canary`` label tells the two backends apart) with the sequential judge, which compares the canary
to the stable backend at the same time instead of to a fixed threshold: a traffic spike that slows both
does not fail the canary, a canary twice as error-prone as stable does.

Note: the ingress-nginx project was retired in March 2026; new setups should prefer Gateway API
(``examples/gateway_api_canary.py``).
"""

from progressive import (
    Analysis,
    Analyze,
    NginxIngress,
    Prometheus,
    Rollout,
    SequentialJudge,
    SetWeight,
    Workload,
)

web = Rollout(
    name="web",
    namespace="web",
    workload=Workload(stable="web", canary="web-canary", canary_replicas=2),
    router=NginxIngress(ingress="web", stable_service="web", canary_service="web-canary"),
    steps=[
        SetWeight(weight=10),
        Analyze(min_duration="2m", max_duration="8m"),
        SetWeight(weight=50),
        Analyze(min_duration="2m", max_duration="8m"),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url="http://prometheus.monitoring:9090"),
        provider="nginx",
        judge=SequentialJudge(latency_threshold=0.5, on_inconclusive="fail"),
    ),
)

"""Two services released together on Linkerd (SMI TrafficSplit), declared as a list.

A file may define several rollouts; every module-level ``Rollout`` is compiled, also inside lists and
tuples. Here the ``frontend`` and ``backend`` of one product each get their own Pipeline, with the same
stages: the Linkerd ``TrafficSplit`` objects (``linkerd-smi`` extension) carry the weights, and the
analysis uses Linkerd's proxy metrics (``response_total``, ``response_latency_ms_bucket``).
"""

from progressive import SMI, Analysis, Analyze, Prometheus, Rollout, SetWeight, Workload

_ANALYSIS = Analysis(prometheus=Prometheus(url="http://prometheus.linkerd-viz:9090"), provider="linkerd")
_STEPS = (SetWeight(weight=20), Analyze(), SetWeight(weight=60), Analyze())

ROLLOUTS = [
    Rollout(
        name=name,
        namespace="emojivoto",
        workload=Workload(stable=name, canary=f"{name}-canary"),
        router=SMI(traffic_split=name, stable_service=name, canary_service=f"{name}-canary"),
        steps=_STEPS,
        analysis=_ANALYSIS,
    )
    for name in ("frontend", "backend")
]

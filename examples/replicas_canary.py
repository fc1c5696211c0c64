"""Canary without a mesh or ingress: traffic follows the ratio of replicas behind one Service.

The Service ``api`` selects the pods of both Deployments, ``api`` and ``api-canary``, so each pod gets
about the same share of requests. To send W% to the canary the step scales the two Deployments so that
canary/(canary + stable) is as close to W as whole replicas allow, keeping the total at what ``api`` had
when the run started (with 10 replicas: 1 canary pod is 10%, 5 are 50%). The step reports the weight it
could actually reach, and waits until both Deployments are available before it says done.

This is coarse (a 4-replica service cannot do 5%) but needs nothing beyond Deployments and a Service. The
analysis uses the ``generic`` queries (``http_requests_total`` and ``http_request_duration_seconds`` from
the application's own metrics, told apart by pod name), and the stages pause between shifts so that
caches and connection pools settle before the judge looks.
"""

from progressive import (
    Analysis,
    Analyze,
    Pause,
    Prometheus,
    ReplicaRatio,
    Rollout,
    SetWeight,
    Workload,
)

api = Rollout(
    name="api",
    namespace="api",
    workload=Workload(stable="api", canary="api-canary"),
    router=ReplicaRatio(),
    steps=[
        SetWeight(weight=10),
        Pause(duration="1m"),
        Analyze(),
        SetWeight(weight=50),
        Pause(duration="1m"),
        Analyze(),
    ],
    analysis=Analysis(prometheus=Prometheus(url="http://prometheus.monitoring:9090"), provider="generic"),
)

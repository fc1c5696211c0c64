"""The demo's rollout: a Gateway API canary judged by the sequential judge, with demo-sized durations.

``scripts/demo`` runs it twice, a good release then a bad one: with ``progressive run``, or (``--cluster``) as
PipelineRuns of its compiled Pipeline, run by Tekton's controller. The canary takes 20% and then 50% of the
traffic of the HTTPRoute ``web``; after each step the sequential judge compares the canary's error and latency
counts with the stable Pods' (the ``generic`` provider's ``http_requests_total`` and
``http_request_duration_seconds``), polling every second, with a 1% bound on rolling back a healthy release
(``alpha``). A healthy canary passes each analysis after 5 seconds or a little more; a bad one fails as soon as the
evidence is conclusive, and the rollback sends all traffic back to ``web``.

Prometheus runs on a port chosen at start-up, so its URL comes from the environment
(``PROGRESSIVE_DEMO_PROMETHEUS``), and so does the namespace (``PROGRESSIVE_DEMO_NAMESPACE``, ``demo`` unless the
demo runs on a cluster that has one already); a rollout file is Python, and may do that.
"""

import os

from progressive import (
    Analysis,
    Analyze,
    GatewayAPI,
    Prometheus,
    Rollout,
    SequentialJudge,
    SetWeight,
    Workload,
)

web = Rollout(
    name="web",
    namespace=os.environ.get("PROGRESSIVE_DEMO_NAMESPACE", "demo"),
    workload=Workload(stable="web", canary="web-canary", progress_deadline="30s"),
    router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary", accepted_timeout="30s"),
    steps=[
        SetWeight(weight=20),
        Analyze(min_duration="5s", max_duration="30s"),
        SetWeight(weight=50),
        Analyze(min_duration="5s", max_duration="30s"),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url=os.environ.get("PROGRESSIVE_DEMO_PROMETHEUS", "http://127.0.0.1:9090")),
        provider="generic",
        judge=SequentialJudge(interval="1s", alpha=0.01),
    ),
)

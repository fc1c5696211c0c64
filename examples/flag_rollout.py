"""A release that shifts 10% of traffic to new code, then turns its feature flag on for more and more users.

The ``payments`` Deployment's new image carries a new payment flow behind the flagd flag ``new-payment-flow``
(variants ``on``/``off``), defined in the OpenFeature Operator ``FeatureFlag`` ``payments-flags``, which flagd
serves through its kubernetes sync. Each run first sends 10% of the traffic to the new image with the flag still
``off`` for everyone (the code path is unchanged) and judges it against the stable pods, then ramps the flag inside
it: 5%, 25%, 50% of users (bucketed by targeting key, as flagd's ``fractional`` does), an approval, then 100%.
At 5% and 25% the judge compares the users who got ``on`` with those who got ``off`` (``Analyze(compare=
"variants")``: request metrics labelled ``feature_flag_key`` and ``feature_flag_result_variant``, as OpenFeature's
telemetry conventions name them), so a flow that errs more is rolled back before it reaches half the users.
Only the canary's pods have the new flow, so at first it reaches 10% of those users; promotion then gives the new
code, and with it the flow, to everyone.

Every ``SetFlag`` stage rewrites the flag's ``fractional`` rule with the FeatureFlag's ``resourceVersion`` and
asks flagd (OFREP, ``evaluation_url``) for probe keys until each gets the variant the new split gives it; if
flagd does not serve it within ``verify_timeout`` the previous split is put back and the stage fails. The
variant order never changes, so a user who got the new flow at 5% keeps it at 25%. The step's bucketing is
flagd's from v0.15.0 on.

If any stage fails, times out or the run is cancelled with ``--grace CancelledRunFinally``, ``finally`` sends
all traffic back to ``payments`` and everyone back to ``off`` (the ``flag-rollback`` task).

Compile it::

    progressive plan examples/flag_rollout.py
    progressive compile examples/flag_rollout.py -o pipelines
"""

from progressive import (
    Analysis,
    Analyze,
    Approve,
    GatewayAPI,
    Prometheus,
    Rollout,
    SetWeight,
    Timeouts,
    Workload,
)
from progressive.model.flags import FeatureFlagSource, FlagTarget, SetFlag

payments = Rollout(
    name="payments",
    namespace="shop",
    workload=Workload(stable="payments", canary="payments-canary"),
    router=GatewayAPI(route="payments", stable_service="payments", canary_service="payments-canary"),
    flag=FlagTarget(
        key="new-payment-flow",
        source=FeatureFlagSource(name="payments-flags"),
        variant="on",
        baseline="off",
        evaluation_url="http://flagd.shop:8016",
        verify_timeout="1m",
    ),
    steps=[
        SetWeight(weight=10),
        Analyze(),
        SetFlag(percent=5),
        Analyze(compare="variants", min_duration="5m", max_duration="20m"),
        SetFlag(percent=25),
        Analyze(compare="variants", min_duration="5m", max_duration="20m"),
        SetFlag(percent=50),
        Approve(timeout="4h"),
        SetFlag(percent=100),
    ],
    analysis=Analysis(prometheus=Prometheus(url="http://prometheus.monitoring:9090"), provider="istio"),
    timeouts=Timeouts(pipeline="7h", finally_="20m"),
)

"""A gated canary: webhooks, a smoke-test hook, a human approval, notifications, two containers.

The ``checkout`` Deployment has two containers, ``app`` and ``sidecar-proxy``; each run takes a new image
for each of them (pipeline params ``image-app`` and ``image-sidecar-proxy``). Traffic goes through a
Contour ``HTTPProxy``.

What gates the rollout, in order:

1. ``confirm-rollout`` webhook ``change-window``: before anything is deployed, the change calendar must
   answer 2xx (asked again until it does, for up to 2 hours);
2. a smoke test, the ``Run`` hook ``smoke``: a container that calls the canary Service directly, with the
   new image's name in its environment; a non-zero exit fails the stage;
3. ``pre-rollout`` webhook ``load-test``: starts a load test before the first traffic shift;
4. analysis at 10% and 50% (sequential judge), while the ``rollback`` webhook ``kill-switch`` is polled:
   if it ever answers 2xx, the stage fails and traffic goes back to stable at once;
5. ``Approve``: at 50%, someone runs ``progressive approve checkout`` (or ``progressive abort checkout``);
6. ``post-rollout`` webhook ``announce``, in ``finally``, whatever the outcome.

Progress is announced to Slack and to a JSON webhook: their URLs are read from the Secret
``checkout-notify`` (keys ``slack-url`` and ``webhook-url``), mounted into every step.
"""

from progressive import (
    Analysis,
    Analyze,
    Approve,
    Contour,
    Notifications,
    Prometheus,
    Rollout,
    Run,
    SetWeight,
    Timeouts,
    Webhook,
    Workload,
)

checkout = Rollout(
    name="checkout",
    namespace="store",
    workload=Workload(stable="checkout", canary="checkout-canary", containers=("app", "sidecar-proxy")),
    router=Contour(http_proxy="checkout", stable_service="checkout", canary_service="checkout-canary"),
    steps=[
        Run(
            name="smoke",
            image="registry.example.com/store/smoke-tests:1.4.2",
            args=("--target", "http://checkout-canary.store.svc:8080", "--suite", "checkout"),
            env={"CANARY_IMAGE": "$(params.image-app)", "RUN_ID": "$(context.pipelineRun.name)"},
            timeout="5m",
        ),
        SetWeight(weight=10),
        Analyze(),
        SetWeight(weight=50),
        Analyze(),
        Approve(timeout="2h"),
    ],
    analysis=Analysis(
        prometheus=Prometheus(url="https://prometheus.monitoring:9091", secret="prometheus-reader", ca_key="ca.crt")
    ),
    webhooks=(
        Webhook(
            name="change-window", type="confirm-rollout", url="https://changes.example.com/gate", gate_timeout="2h"
        ),
        Webhook(
            name="load-test",
            type="pre-rollout",
            url="http://flagger-loadtester.test/",
            metadata={"cmd": "hey -z 30m -q 10 -c 2 http://checkout-canary.store:8080/"},
        ),
        Webhook(name="kill-switch", type="rollback", url="https://ops.example.com/rollback/checkout"),
        Webhook(name="announce", type="post-rollout", url="https://chat.example.com/hooks/releases"),
    ),
    notifications=Notifications(secret="checkout-notify"),
    timeouts=Timeouts(pipeline="6h", finally_="20m"),
)

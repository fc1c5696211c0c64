"""Generated rollouts: each one gives a ModelError of ``path: message`` lines, or Tekton YAML the checker accepts.

Nothing in between: no crash, no traceback, no output that Tekton would refuse. Inputs mix valid building
blocks with out-of-range and malformed values, and are built from dicts with ``Rollout.model_validate``
as a YAML- or JSON-driven user would.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from progressive import ModelError, Rollout
from progressive.compile import catalog_tasks, compile_rollout
from progressive.validate import Document, load_text, validate_documents
from tests.compile.readback import assert_reads_back_exactly
from tests.compile.rollouts import ROUTERS, THRESHOLD

LINE = re.compile(r"^[A-Za-z_][\w.\[\]-]*: \S")
DURATIONS = st.sampled_from(["30s", "1m", "90s", "2m", "5m", "1m30s"])
HOOK_NAMES = st.sampled_from(["smoke", "load", "e2e"])

STEP = st.one_of(
    st.builds(lambda w, t: {"kind": "set-weight", "weight": w, "timeout": t}, st.integers(0, 100), DURATIONS),
    st.builds(lambda d: {"kind": "pause", "duration": d}, DURATIONS),
    st.builds(lambda hi: {"kind": "analyze", "min_duration": "30s", "max_duration": hi}, DURATIONS),
    st.builds(lambda t: {"kind": "approve", "timeout": t}, DURATIONS),
    st.builds(
        lambda name, env: {"kind": "run", "name": name, "image": "busybox:1.36", "env": env},
        HOOK_NAMES,
        st.dictionaries(
            st.sampled_from(["A", "IMAGE", "_X"]),
            st.sampled_from(["v", "$(params.image)", "$(context.pipelineRun.name)", "a b"]),
            max_size=2,
        ),
    ),
)
WEBHOOK = st.builds(
    lambda name, kind, meta: {
        "name": name,
        "type": kind,
        "url": "http://hooks.test/",
        "metadata": meta,
        "gate_timeout": "5m",
    },
    st.sampled_from(["gate", "load", "tell"]),
    st.sampled_from(
        ["confirm-rollout", "pre-rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout"]
    ),
    st.dictionaries(st.sampled_from(["cmd", "k"]), st.sampled_from(["hey -z 1m", "a,b", "--x=y"]), max_size=1),
)
ANALYSIS = st.builds(
    lambda provider, judge, secret, clusters: {
        "prometheus": {"url": "http://prometheus:9090", **({"secret": secret} if secret else {})},
        "provider": provider,
        "judge": judge,
        **clusters,
    },
    st.sampled_from(["istio", "linkerd", "nginx", "envoy-gateway", "generic"]),
    st.sampled_from(
        [
            {"type": "sequential"},
            {"type": "sequential", "alpha": 0.01, "latency_threshold": None, "on_inconclusive": "fail"},
            {"type": "sequential", "latency_threshold": 0.3, "interval": "15s"},
            THRESHOLD,
        ]
    ),
    st.sampled_from([None, "prom-token"]),
    st.sampled_from(
        [
            {},
            {
                "canary_cluster": "httproute/prod/shop/rule/0/backend/1",
                "stable_cluster": "httproute/prod/shop/rule/0/backend/0",
            },
        ]
    ),
)
VALID = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["shop", "a", "web-2", "x" * 51]),
        "namespace": st.just("prod"),
        "workload": st.sampled_from(
            [
                {"stable": "shop", "canary": "shop-canary"},
                {"stable": "shop", "canary": "shop-canary", "containers": ["app", "proxy"], "canary_replicas": 3},
                {"stable": "shop", "canary": "shop-canary", "progress_deadline": "3m"},
            ]
        ),
        "router": st.sampled_from(list(ROUTERS.values())),
        "steps": st.builds(
            lambda w, rest: [{"kind": "set-weight", "weight": w}, *rest],
            st.integers(1, 100),
            st.lists(STEP, max_size=5),
        ),
        "analysis": ANALYSIS,
    },
    optional={
        "webhooks": st.lists(WEBHOOK, max_size=3),
        "notifications": st.sampled_from([{}, {"secret": "n"}]),
        "rollback": st.sampled_from(
            [{"mode": "instant"}, {"mode": "stepped", "step_weight": 25, "step_interval": "5s"}]
        ),
        "timeouts": st.sampled_from([{"pipeline": "3h", "finally": "20m"}, {"pipeline": "6h", "finally": "30m"}]),
        "image": st.just("ghcr.io/tekton-progressive/progressive:0.2.0"),
        "allow_weight_decrease": st.booleans(),
    },
)
MUTATIONS: list[tuple[str, Any]] = [
    ("name", "Bad_Name"),
    ("name", "x" * 52),
    ("namespace", ""),
    ("workload", {"stable": "shop", "canary": "shop"}),
    ("workload", {"stable": "shop", "canary": "c", "progress_deadline": "0s"}),
    ("router", {"type": "linkerd"}),
    ("steps", []),
    ("steps", [{"kind": "set-weight", "weight": 101}]),
    ("steps", [{"kind": "analyze"}, {"kind": "set-weight", "weight": 5}]),
    ("steps", [{"kind": "set-weight", "weight": 5}, {"kind": "pause", "duration": "soon"}]),
    ("steps", [{"kind": "set-weight", "weight": 5}, {"kind": "pause", "duration": "3h"}]),
    ("steps", [{"kind": "set-weight", "weight": 5}, {"kind": "run", "name": "r", "image": "busybox:latest"}]),
    (
        "steps",
        [
            {"kind": "set-weight", "weight": 5},
            {"kind": "run", "name": "r", "image": "b:1", "env": {"A": "$(params.x)"}},
        ],
    ),
    ("steps", [{"kind": "set-weight", "weight": 5}, {"kind": "analyze", "min_duration": "9m", "max_duration": "1m"}]),
    ("analysis", {"prometheus": {"url": "prometheus:9090"}}),
    ("analysis", {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "threshold", "checks": []}}),
    ("analysis", {"prometheus": {"url": "http://p:9090"}, "judge": {"type": "sequential", "alpha": 0.7}}),
    ("webhooks", [{"name": "w", "type": "rollback", "url": "ftp://x/"}]),
    ("webhooks", [{"name": "w" * 60, "type": "pre-rollout", "url": "http://x/"}]),
    ("webhooks", [{"name": "w", "type": "pre-rollout", "url": "http://x/", "metadata": {"k": "$(x)"}}]),
    ("rollback", {"mode": "stepped", "step_weight": 0}),
    ("rollback", {"mode": "stepped", "step_weight": 1, "step_interval": "1m"}),
    ("timeouts", {"pipeline": "30m", "finally": "29m"}),
    ("timeouts", {"pipeline": "1h", "finally": "2h"}),
    ("image", "progressive:latest"),
    ("stepz", []),
]
ROLLOUT = st.one_of(
    VALID,
    st.builds(lambda data, mutation: {**data, mutation[0]: mutation[1]}, VALID, st.sampled_from(MUTATIONS)),
)

_CATALOG = [Document("catalog", index, task) for index, task in enumerate(catalog_tasks())]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROLLOUT)
def test_a_clear_error_or_valid_tekton(data: dict[str, Any]) -> None:
    try:
        rollout = Rollout.model_validate(data)
    except ModelError as error:
        assert error.lines
        for line in error.lines:
            assert LINE.match(line), line
            assert "Traceback" not in line
        return
    compiled = compile_rollout(rollout, "generated.py")  # raises CompilerBug on any finding
    assert_reads_back_exactly(compiled)  # so the in-memory check saw what is written
    documents = [doc for file in compiled.files for doc in load_text(file.content, str(file.path))]
    assert validate_documents(documents, _CATALOG) == []

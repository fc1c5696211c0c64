"""The combined traffic + flag rollout, compiled and run by Tekton's own controller on the real local cluster.

The rollout shifts 10% of traffic to the canary, then ramps the FeatureFlag's ``on`` variant 5 → 25 → 50 → 100,
each stage a ``progressive-flag-set`` step in a TaskRun pod, as the compiled ServiceAccount, verified through a
flagd evaluator (OpenFeature's reference core behind OFREP, see ``flagd_standin.py``) on 127.0.0.1 that syncs the
FeatureFlag. A run that fails after the flag moved sends traffic back to stable and everyone back to ``off`` in
``finally``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from progressive import Approve, GatewayAPI, Rollout, SetWeight, Timeouts, Workload
from progressive.compile import compile_rollout
from progressive.model.flags import FeatureFlagSource, FlagTarget, SetFlag
from progressive.model.steps import Step
from tests.e2e._shop import Shop, condition
from tests.flags.conftest import CHECKOUT, create_featureflag, featureflag_flagd, get_featureflag
from tests.flags.flagd_standin import FlagdStandin
from tests.support.cluster.access import Cluster
from tests.support.prometheus_fixtures import PrometheusStack

pytestmark = pytest.mark.usefixtures("featureflag_crd")

RAMP: list[Step] = [SetWeight(weight=10), SetFlag(percent=5), SetFlag(percent=25), SetFlag(percent=50)]


@pytest.fixture
def flagd(cluster: Cluster) -> Iterator[FlagdStandin]:
    create_featureflag(cluster, "web-flags", {"new-checkout": dict(CHECKOUT)})
    with featureflag_flagd(cluster, "web-flags") as standin:
        yield standin


def _shop(cluster: Cluster, prometheus: PrometheusStack, flagd: FlagdStandin, steps: list[Step]) -> Shop:
    rollout = Rollout(
        name="web",
        namespace=cluster.namespace,
        workload=Workload(stable="web", canary="web-canary", progress_deadline="30s"),
        router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary", accepted_timeout="30s"),
        flag=FlagTarget(
            key="new-checkout",
            source=FeatureFlagSource(name="web-flags"),
            evaluation_url=flagd.url,
            verify_timeout="30s",
        ),
        steps=steps,
        timeouts=Timeouts(pipeline="1h", finally_="8m"),
    )
    shop = Shop(cluster, prometheus, compile_rollout(rollout))
    shop.install()
    return shop


def _flag(cluster: Cluster) -> dict[str, object]:
    found: dict[str, object] = get_featureflag(cluster, "web-flags")["spec"]["flagSpec"]["flags"]["new-checkout"]
    return found


def test_traffic_then_flag_ramp_runs_on_tekton_probe_verified(
    cluster: Cluster, prometheus_stack: PrometheusStack, flagd: FlagdStandin
) -> None:
    shop = _shop(cluster, prometheus_stack, flagd, [*RAMP, SetFlag(percent=100)])
    run = shop.start()
    done = shop.wait(run, timeout=420)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))  # finally: skips
    steps = shop.step_outcomes(run)
    assert [steps[s] for s in ("flag-5", "flag-25", "flag-50", "flag-100")] == ["Completed"] * 4, steps
    for stage in ("flag-5", "flag-25", "flag-50", "flag-100"):
        log = shop.stage_logs(run, stage)
        assert '"verified":true' in log and '"changed":true' in log, log
    assert shop.outcomes(run)["flag-rollback"].startswith("skipped"), shop.outcomes(run)
    assert _flag(cluster) == {**CHECKOUT, "defaultVariant": "on"}
    assert {flagd.evaluate("new-checkout", f"user-{n}")[1]["variant"] for n in range(50)} == {"on"}


def test_a_failed_run_puts_everyone_back_on_off(
    cluster: Cluster, prometheus_stack: PrometheusStack, flagd: FlagdStandin
) -> None:
    shop = _shop(cluster, prometheus_stack, flagd, [*RAMP, Approve(timeout="5s"), SetFlag(percent=100)])
    run = shop.start()
    done = shop.wait(run, timeout=420)
    assert condition(done)[:2] == ("False", "Failed"), (shop.outcomes(run), shop.logs(run))
    outcomes = shop.outcomes(run)
    assert outcomes["flag-rollback"] == "Succeeded", (outcomes, shop.logs(run))
    log = shop.logs(run, "flag-rollback")
    assert '"split":"on=0,off=100"' in log and '"before":{"on":50,"off":50}' in log, log
    assert _flag(cluster) == CHECKOUT
    assert {flagd.evaluate("new-checkout", f"user-{n}")[1]["variant"] for n in range(50)} == {"off"}
    assert shop.weights() == {"web": 100, "web-canary": 0}

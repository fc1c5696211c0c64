"""A good release is promoted; a bad one (10x the errors) is rolled back by the analysis."""

from __future__ import annotations

import base64
from collections.abc import Callable

from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, Shop, condition

CA_BUNDLE = b"-----BEGIN CERTIFICATE-----\nMIIB (unused: Prometheus is plain http here)\n-----END CERTIFICATE-----\n"


def prometheus_secret(shop: Shop, **keys: bytes) -> dict[str, object]:
    """Secret ``prometheus-reader`` with keys ``token`` and/or ``ca`` (stored as ``ca.crt``)."""
    data = {("ca.crt" if key == "ca" else key): base64.b64encode(value).decode() for key, value in keys.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "prometheus-reader", "namespace": shop.namespace},
        "data": data,
    }


def test_a_good_release_is_promoted(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop()
    shop.traffic(canary_errors=0.01)
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("True", "Completed"), (outcomes, shop.logs(run))
    # one pod per traffic step (deploy rides in the first), promote, report: N + 2 pods for N traffic steps
    assert outcomes == {
        "stage-10": "Succeeded",
        "stage-50": "Succeeded",
        "promote": "Succeeded",
        "rollback": "skipped: When Expressions evaluated to false",
        "report": "Succeeded",
    }
    assert shop.step_outcomes(run) == {
        "deploy": "Completed",
        "weight-10": "Completed",
        "analyze-10": "Completed",
        "weight-50": "Completed",
        "analyze-50": "Completed",
        "promote": "Completed",
        "report": "Completed",
    }
    assert shop.image("web") == NEW_IMAGE
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0
    assert shop.state()["phase"] == "promoted"


def test_a_bad_release_is_rolled_back_by_the_analysis(make_shop: Callable[..., Shop]) -> None:
    """Also: Prometheus' credentials come from a Secret mounted into the analysis step by the compiled Task
    (a missing or unreadable token or CA file would end the analysis with exit 2, not 1)."""
    shop = make_shop(prometheus_secret="prometheus-reader", prometheus_ca_key="ca.crt")
    shop.cluster.create(prometheus_secret(shop, token=b"reader-token", ca=CA_BUNDLE))
    shop.traffic(canary_errors=0.10)
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done) == ("False", "Failed", "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 2"), (
        outcomes,
        shop.logs(run),
    )
    assert outcomes == {
        "stage-10": "StepFailed",
        "stage-50": "skipped: PipelineRun was stopping",
        "promote": "skipped: PipelineRun was stopping",
        "rollback": "Succeeded",
        "report": "Succeeded",
    }
    steps = shop.step_outcomes(run)
    assert (steps["deploy"], steps["weight-10"], steps["analyze-10"]) == ("Completed", "Completed", "Error"), steps
    assert shop.exit_code(run, "analyze-10") == 1  # canary judged bad
    analysis = shop.task_runs(run)["stage-10"]
    verdict = {r["name"]: r["value"] for r in analysis["status"].get("results") or []}
    assert verdict.get("verdict") == "fail", verdict
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0
    assert shop.image("web") == OLD_IMAGE
    assert shop.state()["phase"] == "rolled-back"


def test_a_prometheus_secret_with_only_a_token_is_enough(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(prometheus_secret="prometheus-reader")
    shop.cluster.create(prometheus_secret(shop, token=b"reader-token"))
    shop.traffic()
    run = shop.start()
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))

"""Gates: an approval approved with ``progressive approve`` and one aborted with ``progressive abort``;
a failing webhook gate rolls back."""

from __future__ import annotations

from collections.abc import Callable

from progressive import Approve, Webhook
from tests.e2e._shop import NEW_IMAGE, OLD_IMAGE, Shop, condition, good_steps
from tests.support.http_receiver import Answer, HttpReceiver


def gated() -> list[object]:
    steps = good_steps()
    return [*steps[:2], Approve(timeout="60s"), *steps[2:]]


def wait_for_approval(shop: Shop, run: str, timeout: float = 150.0) -> None:
    """Until the approve step has recorded that it waits (state phase ``waiting-approval``)."""

    def waiting() -> bool:
        configmap = shop.cluster.get("v1", "ConfigMap", "progressive-web")
        state = shop.state() if configmap is not None else {}
        return state.get("phase") == "waiting-approval" and state.get("stage") == "approve-10"

    try:
        shop.cluster.wait_for("the approve step to wait", waiting, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{shop.outcomes(run)}\n{shop.logs(run)}") from None


def test_an_approved_gate_lets_the_release_through(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(steps=gated())
    shop.traffic()
    run = shop.start()
    wait_for_approval(shop, run)
    assert shop.weights() == {"web": 90, "web-canary": 10}  # held at 10% while waiting
    approved = shop.progressive("approve", "web", "-n", shop.namespace, "--by", "ada")
    assert approved.returncode == 0, approved.stderr
    assert "approved by ada" in approved.stdout + approved.stderr
    done = shop.wait(run)
    assert condition(done)[:2] == ("True", "Completed"), (shop.outcomes(run), shop.logs(run))
    assert shop.outcomes(run)["approve-10"] == "Succeeded"
    assert shop.image("web") == NEW_IMAGE and shop.weights() == {"web": 100, "web-canary": 0}
    approvals = shop.state()["approvals"]
    assert [(a["stage"], a["decision"], a["by"]) for a in approvals] == [("approve-10", "approved", "ada")]


def test_an_aborted_gate_rolls_back(make_shop: Callable[..., Shop]) -> None:
    shop = make_shop(steps=gated())
    shop.traffic()
    run = shop.start()
    wait_for_approval(shop, run)
    aborted = shop.progressive("abort", "web", "-n", shop.namespace, "--by", "bob", "--reason", "checkout errors")
    assert aborted.returncode == 0, aborted.stderr
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    assert outcomes["approve-10"] == "StepFailed" and outcomes["rollback"] == "Succeeded"
    step = shop.task_runs(run)["approve-10"]["status"]["steps"][0]
    assert step["terminated"]["exitCode"] == 7  # a gate said no
    assert "checkout errors" in shop.logs(run, "approve-10")
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE


def test_a_failing_webhook_gate_rolls_back(make_shop: Callable[..., Shop], http_receiver: HttpReceiver) -> None:
    """``confirm-promotion`` never answers 2xx: the gate fails after its timeout and traffic goes back."""
    http_receiver.script("/promote", then=Answer(503, body="change freeze"))
    gate = Webhook(name="promotion", type="confirm-promotion", url=http_receiver.url("/promote"), gate_timeout="4s")
    shop = make_shop(webhooks=[gate])
    shop.traffic()
    run = shop.start()
    done = shop.wait(run)
    outcomes = shop.outcomes(run)
    assert condition(done)[:2] == ("False", "Failed"), (outcomes, shop.logs(run))
    gate_stage = next(name for name in outcomes if "promotion" in name)
    assert outcomes[gate_stage] == "StepFailed" and outcomes["promote"].startswith("skipped")
    assert outcomes["rollback"] == "Succeeded"
    asked = http_receiver.requests("/promote")
    assert len(asked) >= 2 and all(r.method == "POST" for r in asked)
    body = asked[0].json
    assert isinstance(body, dict) and body.get("name") == "web" and body.get("namespace") == shop.namespace
    assert shop.weights() == {"web": 100, "web-canary": 0}
    assert shop.replicas("web-canary") == 0 and shop.image("web") == OLD_IMAGE

"""``progressive step flag-set`` on the real API server, verified by a flagd evaluator syncing from it.

flagd itself cannot be built here (see ``tests/flags/flagd_standin.py``); the evaluator is OpenFeature's
reference flagd core behind flagd's OFREP endpoint, re-reading the FeatureFlag or ConfigMap as flagd's syncs do.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.flags.conftest import (
    CHECKOUT,
    configmap_flagd,
    create_featureflag,
    create_flag_configmap,
    featureflag_flagd,
    get_featureflag,
)
from tests.step.stepcli import argv, run_step
from tests.support.cluster.access import Cluster

pytestmark = pytest.mark.usefixtures("featureflag_crd", "cluster_env")

KEYS = [f"user-{number}" for number in range(400)]


def _flags(cluster: Cluster, source: str, name: str, **values: str) -> dict[str, str]:
    return {
        "namespace": cluster.namespace,
        "rollout": "checkout",
        "source": source,
        "name": name,
        "flag": "new-checkout",
        "baseline": "off",
        "verify-timeout": "30s",
        "api-timeout": "20s",
        **values,
    }


def _split(on: int) -> str:
    return f"on={on},off={100 - on}"


def _served_on(standin: Any) -> set[str]:
    return {key for key in KEYS if standin.evaluate("new-checkout", key)[1]["variant"] == "on"}


def test_ramp_5_25_50_100_is_probe_verified_and_monotone(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    create_featureflag(cluster, "checkout-flags", {"new-checkout": dict(CHECKOUT)})
    with featureflag_flagd(cluster, "checkout-flags") as flagd:
        previous: set[str] = set()
        for on in (5, 25, 50, 100):
            result = run_step(
                capsys,
                *argv(
                    "flag-set",
                    **_flags(cluster, "featureflag", "checkout-flags", split=_split(on), evaluation_url=flagd.url),
                ),
            )
            assert result.code == 0, (result.lines, result.stderr)
            line = result.last
            assert (line["changed"], line["verified"], line["split"]) == (True, True, _split(on)), line
            assert line["after"] == {"on": on, "off": 100 - on}
            assert any(probe["moved"] and probe["expected"] == "on" for probe in line["probes"]), line["probes"]
            flag = get_featureflag(cluster, "checkout-flags")["spec"]["flagSpec"]["flags"]["new-checkout"]
            if on < 100:
                assert flag["targeting"] == {"fractional": [["on", on], ["off", 100 - on]]}
                assert flag["defaultVariant"] == "off"
            else:
                assert "targeting" not in flag and flag["defaultVariant"] == "on"
            served = _served_on(flagd)
            assert previous <= served, (
                f"keys on at the previous stage went off at {on}%: {sorted(previous - served)[:5]}"
            )
            assert abs(len(served) - len(KEYS) * on / 100) <= len(KEYS) * 0.08, (on, len(served))
            previous = served


def test_rerun_writes_nothing_and_still_verifies(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    create_featureflag(cluster, "checkout-flags", {"new-checkout": dict(CHECKOUT)})
    with featureflag_flagd(cluster, "checkout-flags") as flagd:
        flags = _flags(cluster, "featureflag", "checkout-flags", split=_split(25), evaluation_url=flagd.url)
        assert run_step(capsys, *argv("flag-set", **flags)).code == 0
        version = get_featureflag(cluster, "checkout-flags")["metadata"]["resourceVersion"]
        again = run_step(capsys, *argv("flag-set", **flags))
        assert again.code == 0, again.lines
        assert (again.last["changed"], again.last["verified"], again.last["event"]) == (
            False,
            True,
            "FlagSplitVerified",
        )
        assert get_featureflag(cluster, "checkout-flags")["metadata"]["resourceVersion"] == version


def test_configmap_ramp_then_rollback_off_the_bad_variant(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    create_flag_configmap(
        cluster,
        "flagd-flags",
        "flags.flagd.json",
        {
            "new-checkout": dict(CHECKOUT),
            "other": {"state": "ENABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"},
        },
    )
    with configmap_flagd(cluster, "flagd-flags", "flags.flagd.json") as flagd:
        for on in (5, 25):
            flags = _flags(cluster, "configmap", "flagd-flags", split=_split(on), evaluation_url=flagd.url)
            result = run_step(capsys, *argv("flag-set", **flags))
            assert result.code == 0, (result.lines, result.stderr)
        assert len(_served_on(flagd)) > 0
        # the canary variant is judged bad: everyone back on "off"
        rollback = _flags(cluster, "configmap", "flagd-flags", split="on=0,off=100", evaluation_url=flagd.url)
        result = run_step(capsys, *argv("flag-set", **rollback))
        assert result.code == 0, (result.lines, result.stderr)
        assert (result.last["before"], result.last["after"]) == ({"on": 25, "off": 75}, {"on": 0, "off": 100})
        assert _served_on(flagd) == set()
    document = json.loads(cluster.must_get("v1", "ConfigMap", "flagd-flags")["data"]["flags.flagd.json"])
    assert document["flags"]["new-checkout"] == {**CHECKOUT, "defaultVariant": "off"}
    assert document["flags"]["other"] == {"state": "ENABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}
    assert document["$schema"] == "https://flagd.dev/schema/v0/flags.json"


def test_flagd_not_serving_the_change_restores_the_previous_split(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    create_featureflag(cluster, "checkout-flags", {"new-checkout": dict(CHECKOUT)})
    with featureflag_flagd(cluster, "checkout-flags") as flagd:
        first = _flags(cluster, "featureflag", "checkout-flags", split=_split(5), evaluation_url=flagd.url)
        assert run_step(capsys, *argv("flag-set", **first)).code == 0
        at_five = get_featureflag(cluster, "checkout-flags")["spec"]["flagSpec"]["flags"]["new-checkout"]
        flagd.freeze()  # flagd lost its sync: it keeps serving 5%
        stuck = _flags(
            cluster, "featureflag", "checkout-flags", split=_split(25), evaluation_url=flagd.url, verify_timeout="3s"
        )
        result = run_step(capsys, *argv("flag-set", **stuck))
    assert result.code == 6, result.lines
    error = result.last["error"]
    assert "flagd did not serve on=25,off=75 within 3s" in error and "got 'off', expected 'on'" in error, error
    assert error.endswith("previous split restored"), error
    assert get_featureflag(cluster, "checkout-flags")["spec"]["flagSpec"]["flags"]["new-checkout"] == at_five
    assert len(result.stderr.strip().splitlines()) == 1


UNMANAGED = {**CHECKOUT, "targeting": {"if": [{"in": ["@example.com", {"var": "email"}]}, "on", "off"]}}


@pytest.mark.parametrize(
    ("case", "flag", "split", "message"),
    [
        ("unknown flag", "nope", "on=50,off=50", "--flag: 'nope' is not a flag of FeatureFlag {ns}/checkout-flags"),
        ("unmanaged targeting", "guarded", "on=50,off=50", "is not managed: its top level is if, not fractional"),
        ("unknown variant", "new-checkout", "on=50,blue=50", "--split names variant 'blue', the flag defines off, on"),
        ("not summing to 100", "new-checkout", "on=50,off=40", "--split: percentages in 'on=50,off=40' sum to 90"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    cluster: Cluster, capsys: pytest.CaptureFixture[str], case: str, flag: str, split: str, message: str
) -> None:
    create_featureflag(cluster, "checkout-flags", {"new-checkout": dict(CHECKOUT), "guarded": UNMANAGED})
    before = get_featureflag(cluster, "checkout-flags")["metadata"]["resourceVersion"]
    flags = _flags(cluster, "featureflag", "checkout-flags", split=split, flag=flag)
    result = run_step(capsys, *argv("flag-set", **flags))
    assert result.code == 2, (case, result.lines)
    assert message.format(ns=cluster.namespace) in result.last["error"], result.last["error"]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert get_featureflag(cluster, "checkout-flags")["metadata"]["resourceVersion"] == before


def test_a_flag_marked_managed_is_taken_over(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    marked = {**UNMANAGED, "metadata": {"progressive.dev/managed": True}}
    create_featureflag(cluster, "checkout-flags", {"new-checkout": marked})
    with featureflag_flagd(cluster, "checkout-flags") as flagd:
        flags = _flags(cluster, "featureflag", "checkout-flags", split=_split(25), evaluation_url=flagd.url)
        result = run_step(capsys, *argv("flag-set", **flags))
    assert result.code == 0, (result.lines, result.stderr)
    assert (result.last["before"], result.last["verified"]) == (None, True)
    flag = get_featureflag(cluster, "checkout-flags")["spec"]["flagSpec"]["flags"]["new-checkout"]
    assert flag["targeting"] == {"fractional": [["on", 25], ["off", 75]]}


def test_missing_featureflag_is_exit_3(cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_step(capsys, *argv("flag-set", **_flags(cluster, "featureflag", "absent", split=_split(5))))
    assert result.code == 3, result.lines
    assert f"FeatureFlag {cluster.namespace}/absent not found" in result.last["error"]

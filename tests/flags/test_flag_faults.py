"""flag-set through the fault proxy: a lost answer, a concurrent writer; the flag still ends verified or as it was."""

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
from tests.support.cluster.fault_proxy import FaultProxy
from tests.support.faults import before, response_lost

pytestmark = pytest.mark.usefixtures("featureflag_crd")

OTHER: dict[str, Any] = {"state": "ENABLED", "variants": {"a": "x", "b": "y"}, "defaultVariant": "a"}


def _flags(cluster: Cluster, source: str, name: str, **values: str) -> dict[str, str]:
    return {
        "namespace": cluster.namespace,
        "rollout": "checkout",
        "source": source,
        "name": name,
        "flag": "new-checkout",
        "baseline": "off",
        "api-timeout": "20s",
        **values,
    }


@pytest.mark.parametrize("source", ["featureflag", "configmap"])
def test_a_lost_answer_then_flagd_not_serving_restores_the_split_found(
    source: str, cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """The retry after the lost answer finds its own write: what it restores is still what the step found first."""
    if source == "featureflag":
        create_featureflag(cluster, "flags", {"new-checkout": dict(CHECKOUT)})
        flagd_for, verb, resource = featureflag_flagd, "patch", "featureflags"

        def read() -> Any:
            return get_featureflag(cluster, "flags")["spec"]["flagSpec"]["flags"]["new-checkout"]
    else:
        create_flag_configmap(cluster, "flags", "flags.flagd.json", {"new-checkout": dict(CHECKOUT)})
        flagd_for, verb, resource = configmap_flagd, "update", "configmaps"  # type: ignore[assignment]

        def read() -> Any:
            text = cluster.must_get("v1", "ConfigMap", "flags")["data"]["flags.flagd.json"]
            return json.loads(text)["flags"]["new-checkout"]

    args = (cluster, "flags", "flags.flagd.json") if source == "configmap" else (cluster, "flags")
    with flagd_for(*args) as flagd:
        first = _flags(cluster, source, "flags", split="on=5,off=95", evaluation_url=flagd.url, verify_timeout="30s")
        assert run_step(capsys, *argv("flag-set", **first)).code == 0
        at_five = read()
        flagd.freeze()
        api_proxy.faults.add(response_lost(), verb=verb, resource=resource, name="flags")
        stuck = {**first, "split": "on=25,off=75", "verify-timeout": "3s"}
        result = run_step(capsys, *argv("flag-set", **stuck))
    assert result.code == 6, result.lines
    assert result.last["error"].endswith("previous split restored"), result.last["error"]
    assert read() == at_five
    writes = [e for e in api_proxy.log.writes() if e.resource == resource and e.name == "flags"]
    assert len(writes) >= 2, writes  # the lost write, then the restore


def test_a_concurrent_edit_of_the_document_survives(
    cluster: Cluster, api_proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone edits another flag between the step's read and its write: 409, read again, both changes kept."""
    create_flag_configmap(cluster, "flags", "flags.flagd.json", {"new-checkout": dict(CHECKOUT), "other": OTHER})

    def edit_other() -> None:
        configmap = cluster.must_get("v1", "ConfigMap", "flags")
        document = json.loads(configmap["data"]["flags.flagd.json"])
        document["flags"]["other"]["defaultVariant"] = "b"
        configmap["data"]["flags.flagd.json"] = json.dumps(document)
        cluster.replace(configmap)

    api_proxy.faults.add(before(edit_other), verb="update", resource="configmaps", name="flags")
    result = run_step(capsys, *argv("flag-set", **_flags(cluster, "configmap", "flags", split="on=25,off=75")))
    assert result.code == 0, result.lines
    document = json.loads(cluster.must_get("v1", "ConfigMap", "flags")["data"]["flags.flagd.json"])
    assert document["flags"]["other"]["defaultVariant"] == "b"
    assert document["flags"]["new-checkout"]["targeting"] == {"fractional": [["on", 25], ["off", 75]]}
    updates = api_proxy.log.find(verb="update", resource="configmaps", name="flags")
    assert [e.status for e in updates] == [409, 200], updates

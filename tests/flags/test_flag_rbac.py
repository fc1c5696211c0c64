"""``flag-set`` as the compiled ServiceAccount, with the real API server enforcing the compiled Role.

The same method as ``tests/step/test_least_privilege.py``: the Role comes from :func:`compile_rollout`, the step runs
with a token of its ServiceAccount, and the audit log shows no request was refused and that the grant on the flag's
object (by name) was used.
"""

from __future__ import annotations

import pytest

from progressive import GatewayAPI, Rollout, SetWeight, Workload
from progressive.model.flags import FeatureFlagSource, FlagdConfigMap, FlagSource, FlagTarget, SetFlag
from tests.flags.conftest import (
    CHECKOUT,
    configmap_flagd,
    create_featureflag,
    create_flag_configmap,
    featureflag_flagd,
)
from tests.step.stepcli import argv, run_step
from tests.step.test_least_privilege import ROLLOUT, _as_the_account, _audit, _grants
from tests.support.cluster.access import Cluster
from tests.support.rbac import compiled_rbac

pytestmark = pytest.mark.usefixtures("featureflag_crd")


def _rollout(namespace: str, source: FlagSource) -> Rollout:
    return Rollout(
        name=ROLLOUT,
        namespace=namespace,
        workload=Workload(stable="storefront", canary="storefront-canary"),
        router=GatewayAPI(route="storefront", stable_service="storefront", canary_service="storefront-canary"),
        steps=[SetWeight(weight=100), SetFlag(percent=25)],
        flag=FlagTarget(key="new-checkout", source=source),
    )


@pytest.mark.parametrize(
    "source",
    [FeatureFlagSource(name="checkout-flags"), FlagdConfigMap(name="flagd-flags")],
    ids=["featureflag", "configmap"],
)
def test_flag_set_needs_only_the_compiled_grants(
    source: FlagSource, cluster: Cluster, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(source, FeatureFlagSource):
        create_featureflag(cluster, source.name, {"new-checkout": dict(CHECKOUT)})
        flagd = featureflag_flagd(cluster, source.name)
        resource, verbs = "featureflags", {"get", "patch"}
    else:
        create_flag_configmap(cluster, source.name, source.key, {"new-checkout": dict(CHECKOUT)})
        flagd = configmap_flagd(cluster, source.name, source.key)
        resource, verbs = "configmaps", {"get", "update"}
    rbac = compiled_rbac(_rollout(cluster.namespace, source))
    grants = _grants(rbac[1])
    assert {(verb, resource, source.name) for verb in verbs} <= grants
    _as_the_account(cluster, monkeypatch, rbac)
    flags = {
        "namespace": cluster.namespace,
        "rollout": ROLLOUT,
        "run_id": "run-1",
        "stage": "flag-25",
        "source": source.kind,
        "name": source.name,
        "configmap_key": getattr(source, "key", ""),
        "flag": "new-checkout",
        "baseline": "off",
        "verify_timeout": "30s",
    }
    with flagd as standin:
        for split in ("on=25,off=75", "on=0,off=100"):
            result = run_step(capsys, *argv("flag-set", **flags, split=split, evaluation_url=standin.url))
            assert result.code == 0, (split, result.lines, result.stderr)
            assert result.last["verified"] is True
            assert not [line for line in result.lines if "warning" in line], result.lines

    def used() -> set[str]:
        return {e.verb for e in _audit(cluster) if e.resource == resource and e.name == source.name and e.code < 400}

    cluster.wait_for(f"the audit log to show {sorted(verbs)} on {source.name}", lambda: used() >= verbs or None)
    events = _audit(cluster)
    assert [f"{e.verb} {e.resource} {e.name}" for e in events if e.code == 403] == []

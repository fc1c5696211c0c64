"""``progressive run`` gives the steps the Secret files a Task would mount, read with the user's credentials.

On the real cluster: the Secrets are real objects of the test's namespace, and the user without rights is a real
ServiceAccount whose token the API server's RBAC refuses.
"""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from progressive.commands._mounts import mount_secrets
from progressive.commands.run import local_invocations
from progressive.compile import NOTIFY_DIR, PROMETHEUS_CA_FILE, PROMETHEUS_TOKEN_FILE
from progressive.errors import UsageError
from progressive.kube.client import connect
from progressive.kube.objects import Objects
from progressive.model import (
    Analysis,
    Analyze,
    GatewayAPI,
    Notifications,
    Prometheus,
    Rollout,
    SetWeight,
    Workload,
)
from tests.support.cluster.access import Cluster


def rollout(namespace: str) -> Rollout:
    """A rollout whose steps mount the notification Secret and the Prometheus reader's token and CA."""
    return Rollout(
        name="web",
        namespace=namespace,
        workload=Workload(stable="web", canary="web-canary"),
        router=GatewayAPI(route="web", stable_service="web", canary_service="web-canary"),
        steps=[SetWeight(weight=10), Analyze()],
        analysis=Analysis(prometheus=Prometheus(url="https://prometheus:9091", secret="prom-reader", ca_key="ca.crt")),
        notifications=Notifications(secret="web-notify"),
    )


def secret(name: str, **data: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key.replace("_", "-"): base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def mounted(namespace: str, root: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Mount the rollout's Secrets with the credentials of ``KUBECONFIG``: the warnings and each stage's flags."""
    warnings: list[str] = []
    api = connect()
    try:
        invocations = mount_secrets(
            Objects(api, 10),
            namespace,
            local_invocations(rollout(namespace), {"image": "a/b:1"}, "web-1"),
            root,
            warnings.append,
        )
    finally:
        api.close()
    return warnings, {invocation.name: dict(invocation.flags) for invocation in invocations}


def test_secret_keys_become_private_files_and_the_flags_point_at_them(cluster_env: Cluster, tmp_path: Path) -> None:
    cluster_env.create(
        secret("web-notify", slack_url="https://hooks.slack.example/T0/B0/x"), secret("prom-reader", token="s3cret")
    )
    warnings, flags = mounted(cluster_env.namespace, tmp_path)
    assert warnings == []
    notify = Path(flags["weight-10"]["notify-dir"])
    assert notify == tmp_path / "notify" / "web-notify"
    assert (notify / "slack-url").read_text() == "https://hooks.slack.example/T0/B0/x"
    assert stat.S_IMODE((notify / "slack-url").stat().st_mode) == 0o600
    assert stat.S_IMODE(notify.stat().st_mode) == 0o700
    analyze = flags["analyze-10"]
    assert Path(analyze["prometheus-token-file"]).read_text() == "s3cret"
    assert analyze["prometheus-ca-file"] == str(tmp_path / "prometheus" / "prom-reader" / "ca.crt")
    every = [value for values in flags.values() for value in values.values()]
    assert not any(value.startswith((NOTIFY_DIR, PROMETHEUS_TOKEN_FILE, PROMETHEUS_CA_FILE)) for value in every)


def test_a_missing_secret_is_an_empty_folder_like_an_optional_volume(cluster_env: Cluster, tmp_path: Path) -> None:
    warnings, flags = mounted(cluster_env.namespace, tmp_path)
    assert warnings == []
    assert list(Path(flags["weight-10"]["notify-dir"]).iterdir()) == []


def test_a_secret_that_cannot_be_read_stops_an_analysis_before_it_starts(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.create(
        secret("prom-reader", token="s3cret"),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}},  # no Role: RBAC says no
    )
    monkeypatch.setenv("KUBECONFIG", str(cluster.service_account_kubeconfig("nobody")))
    with pytest.raises(
        UsageError,
        match=rf"Secret {cluster.namespace}/prom-reader: cannot read it .*forbidden by RBAC .*:nobody\" cannot get "
        r"resource \"secrets\".*you need get on secrets",
    ):
        mounted(cluster.namespace, tmp_path)

"""The step imports only what its command needs (it starts as a fresh process in every Tekton step)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.routers.routing_support import install, load
from tests.step.stepcli import argv, route_flags
from tests.support.cluster.access import Cluster

HEAVY = (
    "kubernetes",
    "pydantic",
    "yaml",
    "progressive.compile",
    "progressive.model",
    "progressive.metrics",
    "progressive.judge",
    "prometheus_api_client",
)


@pytest.mark.parametrize("module", ["set_weight", "deploy", "promote", "rollback", "status"])
def test_importing_a_command_loads_nothing_heavy(module: str) -> None:
    """The Kubernetes client is imported by ``connect()``, when the command runs, never at import."""
    code = (
        f"import sys, progressive.step.cli, progressive.step.{module}; "
        f"print(','.join(n for n in {HEAVY!r} if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_help_loads_no_client() -> None:
    code = (
        "import sys\nfrom progressive.cli import main\n"
        "try:\n    main(['step', '--help'])\nexcept SystemExit:\n    pass\n"
        f"print(','.join(n for n in {HEAVY!r} if n in sys.modules), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == ""
    assert "set-weight" in done.stdout


UNUSED_BY_SET_WEIGHT = (
    # the other routers
    "progressive.routers.istio",
    "progressive.routers.nginx",
    "progressive.routers.traefik",
    "progressive.routers.smi",
    "progressive.routers.contour",
    "progressive.routers.replicas",
    "progressive.kube.deployments",
    # notifications: no --notify-dir
    "progressive.notify",
    "progressive.http_post",
    # the timeouts check: only a run's first step reads its PipelineRun
    "progressive.step.run_timeouts",
    # the official client's parts a connection does not use
    "kubernetes.watch",
    "kubernetes.stream",
    "kubernetes.dynamic",
    "kubernetes.informer",
    "kubernetes.leaderelection",
    "kubernetes.utils.create_from_yaml",
)


def test_set_weight_imports_only_what_it_uses(cluster: Cluster) -> None:
    """A real ``set-weight`` of a run on the cluster, in a fresh process, as a run's second step (holding the Lease)."""
    install(cluster, load("httproute.yaml"))
    watched = (*HEAVY[1:], *UNUSED_BY_SET_WEIGHT)
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    loaded = []
    for weight in ("30", "40"):
        flags = argv("set-weight", **route_flags(cluster.namespace, wait_accepted="false"), weight=weight)
        code = (
            f"import sys\nfrom progressive.step.cli import main\nassert main({flags!r}) == 0\n"
            f"print(','.join(n for n in {watched!r} if n in sys.modules), file=sys.stderr)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        loaded.append(done.stderr.strip().splitlines()[-1])
    # pydantic and yaml come with the official client's kubeconfig loader (KUBECONFIG is set): it imports its
    # ApiClient (pydantic) and YAML; a Pod's step imports neither (tests/image/test_image.py)
    assert loaded == ["pydantic,yaml,progressive.step.run_timeouts", "pydantic,yaml"]


def test_in_cluster_credentials_load_without_the_kubeconfig_loader(tmp_path: Path) -> None:
    """In a Pod the step never imports the kubeconfig loader (YAML, OAuth, ``requests``) nor the typed models'
    ``ApiClient`` (pydantic): only the in-cluster loader and the REST layer, as :func:`connect` uses them."""
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("a-token")
    ca.write_text("not empty")
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    kubeconfig_loader = ("kubernetes.config.kube_config", "yaml", "oauthlib", "requests")
    watched = (*kubeconfig_loader, "kubernetes.client.api_client", "pydantic")
    code = (
        "import sys\nfrom progressive.kube.client import _import_lean\n_import_lean()\n"
        "from kubernetes.client.rest import RESTClientObject\n"
        "from kubernetes.client.configuration import Configuration\n"
        "from kubernetes.config.incluster_config import InClusterConfigLoader\n"
        "configuration = Configuration()\n"
        f"loader = InClusterConfigLoader(token_filename={str(token)!r}, cert_filename={str(ca)!r},"
        f" environ={environ!r})\n"
        "loader.load_and_set(configuration)\n"
        "RESTClientObject(configuration)\n"
        "print(configuration.host, configuration.api_key['BearerToken'])\n"
        f"print(','.join(n for n in {watched!r} if n in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["https://10.0.0.1:443 bearer a-token", ""]

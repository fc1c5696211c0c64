"""The step image: reproducible, small, configured as the Tasks expect, and running the step as they run it.

``scripts/image build`` made it (cached: tests/support/image.py); these tests read it with the real tools
(``skopeo``, ``umoci``) and run it with the executor's own container launcher: a private mount namespace, the
unpacked root filesystem read-only, ``chroot``, user 65532.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from progressive import GatewayAPI, Rollout, SetWeight, Workload, __version__
from tests.routers.routing_support import install, install_deployments, load, split_canary_weights
from tests.step.stepcli import argv, route_flags
from tests.support.cluster.access import Cluster
from tests.support.image import KUBECONFIG_IN_IMAGE, StepImage, in_cluster, mounted_kubeconfig, run_in_image
from tests.support.rbac import as_account, compiled_rbac
from tools.image.build import REPO, build

SITE = "opt/progressive/lib/python3.11/site-packages"


def test_a_second_build_from_the_same_inputs_gives_the_same_digest(image: StepImage, tmp_path: Path) -> None:
    again = build(tmp_path / "dist", reuse_app_layer=False)
    assert again.digest == image.built.digest
    assert again.archive.read_bytes() == image.built.archive.read_bytes()


def test_the_image_runs_progressive_as_user_65532_with_home_in_tmp(image: StepImage) -> None:
    inspected = subprocess.run(
        ["skopeo", "inspect", "--config", f"oci-archive:{image.built.archive}"],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(inspected.stdout)["config"]
    assert config["User"] == "65532:65532"
    assert "HOME=/tmp" in config["Env"]
    assert config["Entrypoint"] == ["progressive"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.revision"].startswith(head.stdout.strip())
    assert labels["org.opencontainers.image.source"] == "https://github.com/tekton-progressive/progressive"


def test_the_image_is_under_150_mb_with_no_compiler_package_cache_or_installer(image: StepImage) -> None:
    assert image.built.size < 150_000_000, f"{image.built.size / 1e6:.1f} MB uncompressed"
    rootfs = image.rootfs
    for tool in ("gcc", "cc", "c++", "ld", "make", "apt", "apt-get", "pip", "pip3"):
        assert not (rootfs / "usr" / "bin" / tool).exists(), tool
    assert not list(rootfs.glob("var/cache/apt/archives/*.deb"))
    assert not list(rootfs.glob("var/lib/apt/lists/*_Packages"))
    assert not (rootfs / SITE / "pip").exists()
    assert not (rootfs / SITE / "kubernetes" / "aio").exists()  # see tools/image/requirements.lock
    assert "python3.11-minimal" in (rootfs / "usr/share/progressive/debian-packages.txt").read_text()


def test_the_step_starts_in_the_image_on_a_read_only_root_as_65532(image: StepImage) -> None:
    version = run_in_image(image, ["progressive", "--version"])
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    help_ = run_in_image(image, ["progressive", "step", "--help"])
    assert help_.returncode == 0, help_.stderr
    assert "set-weight" in help_.stdout
    probe = (
        "import os, pathlib\n"
        "print(os.getuid(), os.getgid(), os.environ['HOME'])\n"
        "try:\n"
        "    pathlib.Path('/opt/progressive/written').write_text('x')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    who = run_in_image(image, ["python3", "-c", probe])
    assert who.returncode == 0, who.stderr
    assert who.stdout.splitlines() == ["65532 65532 /tmp", "Read-only file system"]


def test_validate_runs_in_the_image_without_the_schema_accelerator(image: StepImage, tmp_path: Path) -> None:
    """The image leaves jsonschema_rs out (requirements.lock); validate falls back to jsonschema, same messages."""
    assert not list((image.rootfs / SITE).glob("jsonschema_rs*"))
    task = REPO / "tasks" / "progressive-pause" / "0.1" / "progressive-pause.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text(task.read_text().replace("  steps:", "  stepz:", 1))
    broken.chmod(0o644)
    files = {"/etc/progressive-test/task.yaml": task, "/etc/progressive-test/broken.yaml": broken}
    good = run_in_image(image, ["progressive", "validate", "/etc/progressive-test/task.yaml"], files=files)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = run_in_image(image, ["progressive", "validate", "/etc/progressive-test/broken.yaml"], files=files)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "unknown field ('stepz' was unexpected)" in bad.stdout + bad.stderr


def test_set_weight_runs_from_inside_the_image_against_the_cluster(
    image: StepImage, cluster: Cluster, tmp_path: Path
) -> None:
    install_deployments(cluster)
    install(cluster, load("httproute.yaml"))
    result = run_in_image(
        image,
        ["progressive", "step", *argv("set-weight", **route_flags(cluster.namespace), weight="30")],
        env={"KUBECONFIG": KUBECONFIG_IN_IMAGE},
        files=mounted_kubeconfig(cluster.kubeconfig, tmp_path),
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary.get("weight") == 30, summary
    route = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
    assert split_canary_weights(route) == [30, 30]


NOT_FOR_A_POD = (
    "kubernetes.client.api_client",  # the typed models' client: pydantic, dateutil
    "pydantic",
    "dateutil",
    "kubernetes.config.kube_config",  # the kubeconfig loader: YAML, OAuth, requests
    "yaml",
    "oauthlib",
    "requests",
)
"""What a step with a Pod's credentials has no use for: every call is raw JSON through the client's REST layer."""


def test_with_a_pods_credentials_set_weight_runs_on_the_clients_rest_layer_alone(
    image: StepImage, cluster: Cluster, tmp_path: Path
) -> None:
    """As a Tekton step runs: the rollout's ServiceAccount token, CA and namespace mounted where the kubelet puts
    them, the compiled Role, and none of the official client's typed models or kubeconfig loader imported."""
    install_deployments(cluster)
    install(cluster, load("httproute.yaml"))
    rollout = Rollout(
        name="storefront",
        namespace=cluster.namespace,
        workload=Workload(stable="storefront", canary="storefront-canary"),
        router=GatewayAPI(route="storefront", stable_service="storefront", canary_service="storefront-canary"),
        steps=[SetWeight(weight=30)],
    )
    rbac = compiled_rbac(rollout)
    as_account(cluster, rbac)
    token = cluster.service_account_token(rbac[0]["metadata"]["name"])
    pod = in_cluster(token, cluster.local.credentials.ca_cert, cluster.namespace, cluster.local.server, tmp_path)
    flags = ["step", *argv("set-weight", **route_flags(cluster.namespace), weight="30")]
    code = (
        f"import sys\nfrom progressive.cli import main\ncode = main({flags!r})\n"
        f"print(','.join(n for n in {NOT_FOR_A_POD!r} if n in sys.modules), file=sys.stderr)\nsys.exit(code)"
    )
    result = run_in_image(image, ["python3", "-c", code], env=pod.env, files=pod.files)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[-1] == ""
    assert json.loads(result.stdout.splitlines()[-1])["weight"] == 30
    route = cluster.must_get("gateway.networking.k8s.io/v1", "HTTPRoute", "storefront")
    assert split_canary_weights(route) == [30, 30]


def test_push_copies_the_image_with_skopeo_and_prints_the_pinned_reference(image: StepImage, tmp_path: Path) -> None:
    """``scripts/image push`` to a skopeo transport (no registry here): the copy has the built digest."""
    destination = f"oci:{tmp_path / 'pushed'}:0.1.0"
    pushed = subprocess.run(
        [sys.executable, "-m", "tools.image", "push", destination, "--dist", str(image.built.archive.parent)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.splitlines()[-1] == image.built.digest
    assert "compile" not in pushed.stdout  # a layout on disk, not a registry a cluster could pull from
    inspected = subprocess.run(["skopeo", "inspect", destination], capture_output=True, text=True, check=True)
    assert json.loads(inspected.stdout)["Digest"] == image.built.digest

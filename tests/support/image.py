"""The step image as the tests use it: built by ``scripts/image build`` (cached), unpacked by ``umoci``.

The local cluster's executor runs every step container of this image in the unpacked root filesystem
(:mod:`tests.support.cluster.executor.image`), so the end-to-end tests run the step as the image runs it.
"""

from __future__ import annotations

import fcntl
import functools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from progressive.model import DEFAULT_STEP_IMAGE
from tests.support.cluster.executor.container import image_root, launch_command
from tests.support.cluster.executor.image import load_bundle
from tools.image.build import REPO, Built, build, cache_dir

__all__ = [
    "KUBECONFIG_IN_IMAGE",
    "NONROOT",
    "InCluster",
    "StepImage",
    "in_cluster",
    "mounted_kubeconfig",
    "run_in_image",
    "step_image",
    "unpack",
]

NONROOT = (65532, 65532)
"""The image's user and group (``USER 65532:65532``)."""
MOUNTED = "/etc/progressive-test"
KUBECONFIG_IN_IMAGE = f"{MOUNTED}/kubeconfig"

DIST = REPO / "dist"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where the kubelet mounts a Pod's service account token, CA and namespace (the in-cluster loader reads them)."""


@dataclass(frozen=True)
class StepImage:
    """The built image and its unpacked bundle (``rootfs/``, ``config.json``, ``references.txt``)."""

    built: Built
    bundle: Path

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    def runtime_spec(self) -> dict[str, object]:
        """umoci's OCI runtime spec for the image (its ``process`` is the image config's user, env, cwd)."""
        spec: dict[str, object] = json.loads((self.bundle / "config.json").read_text())
        return spec


def unpack(built: Built) -> Path:
    """``umoci unpack`` the image once per digest; the bundle answers to the default reference and the digest."""
    bundle = cache_dir() / "bundles" / built.digest.removeprefix("sha256:")
    if not (bundle / "references.txt").exists():
        shutil.rmtree(bundle, ignore_errors=True)
        bundle.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["umoci", "unpack", "--image", f"{built.layout}:{built.reference.rsplit(':', 1)[1]}", str(bundle)],
            check=True,
            capture_output=True,
        )
        (bundle / "references.txt").write_text(f"{DEFAULT_STEP_IMAGE}\n{built.reference}\n{built.digest}\n")
    return bundle


@functools.cache
def step_image() -> StepImage:
    """Build (or take from the cache) and unpack the step image of this checkout, once per process (the cluster
    and the image tests of one pytest session use the same one).

    One build at a time per machine (a lock in the cache folder): checkouts share the cached base and wheels.
    """
    cache_dir().mkdir(parents=True, exist_ok=True)
    with (cache_dir() / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = build(DIST)
        return StepImage(built, unpack(built))


def run_in_image(
    image: StepImage,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, Path] | None = None,
    user: tuple[int, int] = NONROOT,
    read_only: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as the executor runs a step container of the image: same launcher, same mounts and chroot.

    ``files`` maps a path inside the container to a host file bind-mounted there read-only (a kubeconfig, say);
    ``env`` goes over the image's environment. The network is the test's own (the API server is on 127.0.0.1).
    """
    bundle = load_bundle((), image.bundle)
    with tempfile.TemporaryDirectory(prefix="in-image-") as scratch:
        root = Path(scratch) / "root"
        root.mkdir()
        spec = {
            "mounts": [
                {"source": str(path), "target": target, "readOnly": True} for target, path in (files or {}).items()
            ],
            "workingDir": bundle.cwd,
            "env": {**dict(bundle.env), **(env or {})},
            "argv": list(argv),
            "image": image_root(image.rootfs, root, user, read_only=read_only),
        }
        spec_file = Path(scratch) / "container.json"
        spec_file.write_text(json.dumps(spec))
        return subprocess.run(
            launch_command(spec_file),
            capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)},
        )  # fmt: skip


def mounted_kubeconfig(kubeconfig: Path, folder: Path) -> dict[str, Path]:
    """``kubeconfig`` and its CA file, readable by the image's user (as a mounted Secret would be), for
    :func:`run_in_image`'s ``files`` (set ``KUBECONFIG`` to :data:`KUBECONFIG_IN_IMAGE`). The CA stays a file, as
    in-cluster: given as data, the client would write it to a temporary file, and the root is read-only."""
    config = yaml.safe_load(kubeconfig.read_text())
    folder = folder / "in-image"
    folder.mkdir(exist_ok=True)
    files = {}
    for index, entry in enumerate(config["clusters"]):
        ca = folder / f"ca-{index}.crt"
        ca.write_bytes(Path(entry["cluster"]["certificate-authority"]).read_bytes())
        ca.chmod(0o644)
        files[f"{MOUNTED}/{ca.name}"] = ca
        entry["cluster"]["certificate-authority"] = f"{MOUNTED}/{ca.name}"
    mounted = folder / "kubeconfig"
    mounted.write_text(yaml.safe_dump(config))
    mounted.chmod(0o644)
    return {**files, KUBECONFIG_IN_IMAGE: mounted}


@dataclass(frozen=True)
class InCluster:
    """A Pod's credentials for :func:`run_in_image`: the mounted service account files and the kubelet's env."""

    files: dict[str, Path]
    env: dict[str, str]


def in_cluster(token: str, ca_cert: Path, namespace: str, server: str, folder: Path) -> InCluster:
    """What a Pod of ``namespace`` running as the token's ServiceAccount has: ``token``, ``ca.crt`` and
    ``namespace`` under :data:`SERVICE_ACCOUNT_DIR`, readable by the image's user (the kubelet's projected volume
    is), and ``KUBERNETES_SERVICE_HOST``/``_PORT`` pointing at ``server`` (``https://HOST:PORT``; with no
    kube-proxy here, the API server itself, as the local cluster's executor sets them)."""
    folder = folder / "in-cluster"
    folder.mkdir(exist_ok=True)
    contents = {"token": token.encode(), "ca.crt": ca_cert.read_bytes(), "namespace": namespace.encode()}
    files = {}
    for name, content in contents.items():
        path = folder / name
        path.write_bytes(content)
        path.chmod(0o644)
        files[f"{SERVICE_ACCOUNT_DIR}/{name}"] = path
    host, _, port = server.removeprefix("https://").rpartition(":")
    return InCluster(files, {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})

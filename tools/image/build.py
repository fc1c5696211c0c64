"""Assemble the step image from its two layers and write it under ``dist/``.

Inputs: the Debian packages of :mod:`tools.image.base`, ``requirements.lock``, the project's source and
``SOURCE_DATE_EPOCH`` (by default the commit time of ``HEAD``). The same inputs give the same digest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tools.image.app import APP_ROOT, app_layer, builder, project_wheel, wheelhouse
from tools.image.base import base_layer
from tools.image.oci import ImageConfig, write_archive, write_layout

__all__ = ["IMAGE_NAME", "USER", "Built", "build", "cache_dir"]

REPO = Path(__file__).resolve().parents[2]
IMAGE_NAME = "ghcr.io/tekton-progressive/progressive"
"""The name the generated Tasks use by default (``progressive.model.DEFAULT_STEP_IMAGE`` is this at the version)."""
SOURCE = "https://github.com/tekton-progressive/progressive"
USER = "65532:65532"


@dataclass(frozen=True)
class Built:
    """What a build printed: the reference, the digest, where the archive is, how big, how long."""

    reference: str
    digest: str
    archive: Path
    layout: Path
    size: int
    compressed_size: int
    seconds: float


def cache_dir() -> Path:
    """Where base layers, wheels and the builder are kept between builds."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "progressive-image"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def _epoch() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH") or _git("log", "-1", "--format=%ct"))


def _revision() -> str:
    dirty = _git("status", "--porcelain", "--", "progressive", "pyproject.toml", "tools/image")
    return _git("rev-parse", "HEAD") + ("-dirty" if dirty else "")


def _version() -> str:
    namespace: dict[str, str] = {}
    exec((REPO / "progressive" / "_version.py").read_text(), namespace)
    return namespace["__version__"]


def build(dist: Path, cache: Path | None = None, *, reuse_app_layer: bool = True) -> Built:
    """Build the image into ``dist/`` and return what was built.

    The base layer, the builder and the wheels always come from the cache when their inputs are unchanged; the
    application layer too unless ``reuse_app_layer`` is false.
    """
    started = time.monotonic()
    cache = cache or cache_dir()
    epoch, version = _epoch(), _version()
    base_rootfs, base = base_layer(cache)
    python = builder(cache)
    wheels = wheelhouse(cache, python)
    work = dist / "image-work"
    wheel = project_wheel(python, REPO, work / "project", epoch)
    app = app_layer(
        base,
        base_rootfs,
        wheels=wheels,
        project=wheel,
        work=work,
        epoch=epoch,
        cache=cache if reuse_app_layer else None,
    )
    config = ImageConfig(
        user=USER,
        env=(
            f"PATH={APP_ROOT}/bin:/usr/local/bin:/usr/bin:/bin",
            "HOME=/tmp",
            "LANG=C.UTF-8",
            "PYTHONUNBUFFERED=1",
            "PYTHONDONTWRITEBYTECODE=1",
            f"SSL_CERT_FILE={APP_ROOT}/lib/python3.11/site-packages/certifi/cacert.pem",
        ),
        entrypoint=("progressive",),
        cmd=("step", "--help"),
        working_dir="/",
        labels={
            "org.opencontainers.image.source": SOURCE,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.revision": _revision(),
            "org.opencontainers.image.title": "progressive",
            "org.opencontainers.image.description": "progressive delivery for Tekton: the step every Task runs",
        },
    )
    layout = dist / "oci"
    shutil.rmtree(layout, ignore_errors=True)
    written = write_layout(
        layout,
        version,
        config,
        [
            (base, "Debian bookworm: " + ", ".join(("python3.11-minimal", "libpython3.11-stdlib"))),
            (app, f"{APP_ROOT}: tools/image/requirements.lock and progressive {version}"),
        ],
        epoch,
    )
    archive = dist / f"progressive-{version}.oci.tar"
    write_archive(layout, archive, epoch)
    shutil.rmtree(work, ignore_errors=True)
    return Built(
        reference=f"{IMAGE_NAME}:{version}",
        digest=written.digest,
        archive=archive,
        layout=layout,
        size=base.uncompressed_size + app.uncompressed_size,
        compressed_size=base.size + app.size,
        seconds=time.monotonic() - started,
    )

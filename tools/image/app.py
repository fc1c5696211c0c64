"""The image's application layer: a virtual environment at ``/opt/progressive`` with the locked wheels.

The wheels (``requirements.lock``, every one hash-checked) and the project's own wheel are installed by the image's
own Python, chrooted into the base layer, with pip run from its wheel so pip itself never lands in the image; then
kubernetes' asyncio client is removed (the step never imports it, and it would double the layer). The base is
mounted read-only and only ``/opt/progressive`` is writable: whatever the install writes is in this layer,
and nothing else can be. Bytecode is ``unchecked-hash`` (reproducible, and never rewritten on a read-only root).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tools.image import layers
from tools.image.layers import Layer, write_layer

__all__ = ["APP_ROOT", "app_layer", "builder", "wheelhouse"]

APP_ROOT = "/opt/progressive"
HERE = Path(__file__).parent
PIP_WHEEL = "pip-26.0.1-py3-none-any.whl"

_INSTALL = r"""
set -eu
root=$1 app=$2 wheels=$3 project=$4
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$app" "$root/opt/progressive"
mount -t tmpfs tmpfs "$root/tmp"
mkdir "$root/tmp/wheels" "$root/tmp/project"
mount --bind -o ro "$wheels" "$root/tmp/wheels"
mount --bind -o ro "$project" "$root/tmp/project"
mount --rbind /dev "$root/dev"
mount -t proc proc "$root/proc"
exec chroot "$root" /bin/python3.11 -c '
import glob, shutil, subprocess
pip = ["/opt/progressive/bin/python", "/tmp/wheels/PIP_WHEEL/pip", "install", "--quiet", "--no-index", "--no-deps",
       "--no-compile", "--find-links", "/tmp/wheels"]
subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--without-pip", "/opt/progressive"], check=True)
subprocess.run([*pip, "--require-hashes", "-r", "/tmp/wheels/requirements.lock"], check=True)
subprocess.run([*pip, *glob.glob("/tmp/project/*.whl")], check=True)
shutil.rmtree("/opt/progressive/lib/python3.11/site-packages/kubernetes/aio")  # see requirements.lock
subprocess.run(["/opt/progressive/bin/python", "-m", "compileall", "-q", "-f", "-j1", "--invalidation-mode",
                "unchecked-hash", "/opt/progressive/lib"], check=True)
'
""".replace("PIP_WHEEL", PIP_WHEEL)


def _environment(epoch: int) -> dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C.UTF-8",
        "HOME": "/tmp",
        "SOURCE_DATE_EPOCH": str(epoch),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _lock_key(*files: Path) -> str:
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def builder(cache: Path) -> Path:
    """A virtual environment with ``builder.lock`` (pip, hatchling), cached; returns its ``python``."""
    lock = HERE / "builder.lock"
    folder = cache / f"builder-{_lock_key(lock)}"
    python = folder / "bin" / "python"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                        "--disable-pip-version-check", "--only-binary=:all:", "--require-hashes", "-r", str(lock)],
                       check=True)  # fmt: skip
        (folder / "done").touch()
    return python


def wheelhouse(cache: Path, python: Path) -> Path:
    """``requirements.lock``'s wheels and pip's own, downloaded with their hashes checked, cached."""
    lock = HERE / "requirements.lock"
    folder = cache / f"wheels-{_lock_key(lock, HERE / 'builder.lock')}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        download = [str(python), "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--only-binary=:all:", "--require-hashes", "-d", str(folder)]  # fmt: skip
        subprocess.run([*download, "-r", str(lock)], check=True)
        subprocess.run([*download, "-r", str(HERE / "builder.lock")], check=True)
        for wheel in folder.glob("*.whl"):
            if wheel.name != PIP_WHEEL and not _locked(wheel, lock):
                wheel.unlink()  # the builder's other tools: not for the image
        shutil.copy(lock, folder / "requirements.lock")
        (folder / "done").touch()
    return folder


def _locked(wheel: Path, lock: Path) -> bool:
    name = wheel.name.split("-")[0].lower().replace("_", "-")
    return any(line.lower().replace("_", "-").startswith(f"{name}==") for line in lock.read_text().splitlines())


def project_wheel(python: Path, repo: Path, out: Path, epoch: int) -> Path:
    """The project's wheel, built with the pinned hatchling (``SOURCE_DATE_EPOCH`` fixes its zip times)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(
        [str(python), "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(out), str(repo)],
        check=True,
        env={**_environment(epoch), "PATH": f"{python.parent}:/usr/bin:/bin"},
    )  # fmt: skip
    return next(out.glob("*.whl"))


def app_layer(
    base: Layer, base_rootfs: Path, *, wheels: Path, project: Path, work: Path, epoch: int, cache: Path | None
) -> Layer:
    """Install into a fresh ``work/app`` (mounted at ``/opt/progressive``) and archive it as a layer.

    With ``cache``, a layer built before from the same inputs (base, wheels, project wheel, epoch, this file, the
    layer writer) is reused; without, it is built again (what the reproducibility test does).
    """
    key = hashlib.sha256(
        "\n".join([base.digest, wheels.name, str(epoch), hashlib.sha256(project.read_bytes()).hexdigest()]).encode()
        + Path(__file__).read_bytes()
        + Path(layers.__file__).read_bytes()  # how the layer is written is an input too
    ).hexdigest()[:16]
    folder = cache / f"app-{key}" if cache else None
    if folder and (folder / "done").exists():
        return Layer.from_record(folder / "layer.tar.gz", folder / "done")
    layer = _install(base_rootfs, wheels, project, work, epoch)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        shutil.copy(layer.path, folder / "layer.tar.gz")
        layer.save_record(folder / "done")
    return layer


def _install(base_rootfs: Path, wheels: Path, project: Path, work: Path, epoch: int) -> Layer:
    app = work / "app"
    shutil.rmtree(app, ignore_errors=True)
    app.mkdir(parents=True)
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _INSTALL, "sh",
         str(base_rootfs), str(app), str(wheels), str(project.parent)],
        check=True,
        env=_environment(epoch),
    )  # fmt: skip
    return write_layer(app, APP_ROOT, work / "app.tar.gz", epoch, keep=_not_a_test_suite)


def _not_a_test_suite(name: str) -> bool:
    """The installed packages' own test suites (jsonschema, regex, websocket, ...) stay out of the image."""
    return not {"tests", "test"} & set(name.split("/")[4:])  # lib/python3.11/site-packages/<package>/...

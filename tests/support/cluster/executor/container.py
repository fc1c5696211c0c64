"""Start one container's process inside a private mount namespace, with the pod's volumes where the spec puts them.

Run by the executor as ``unshare --mount --propagation private -- python -m
tests.support.cluster.executor.container SPEC.json``. In that namespace it mounts a tmpfs on each scratch root
(``/tekton``, ``/workspace``, ``/ko-app``: directories that exist empty on the host), bind-mounts every volume at its
``mountPath`` (read-only ones remounted read-only), the container's termination-message file at its
``terminationMessagePath``, and Tekton's ``entrypoint`` and ``workingdirinit`` binaries at ``/ko-app/``; then it
changes to the working directory and ``exec``s the command with the resolved environment. Nothing it mounts is
visible outside, so the steps of one pod, and different pods, see their own ``/tekton``.

A container of an image the executor has (``spec["image"]``, see :mod:`.image`) gets that image's root filesystem
instead: the unpacked ``rootfs`` bind-mounted at a root of its own, the scratch roots and volumes mounted inside it,
``/proc`` and ``/dev``, the root remounted read-only when the securityContext asks, then ``chroot`` and the image's
(or the securityContext's) user and group, with no supplementary groups. Mount points a volume needs and the image
lacks are created in the unpacked root, as a runtime creates them.

What is not imitated: for any other image, the image (the host's filesystem is the container's, so commands resolve
on the host's ``PATH``) and users (the process runs as root); for every container, capabilities, seccomp and
resource limits.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["SCRATCH_ROOTS", "image_root", "launch_command", "main"]

SCRATCH_ROOTS = ("/tekton", "/workspace", "/ko-app")
"""Get a fresh tmpfs in every container; any other mount point must already exist on the host."""

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384

_libc = ctypes.CDLL(None, use_errno=True)


_MODULE = "tests.support.cluster.executor.container"


def launch_command(spec_file: Path) -> list[str]:
    """The command line that starts a container from its spec file (run it as root, from the repository)."""
    return ["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-m", _MODULE, str(spec_file)]


def image_root(rootfs: Path, root: Path, user: tuple[int, int], *, read_only: bool) -> dict[str, Any]:
    """The ``image`` entry of a spec: the unpacked ``rootfs``, the empty folder it is mounted at, uid and gid."""
    return {"rootfs": str(rootfs), "root": str(root), "uid": user[0], "gid": user[1], "readOnly": read_only}


def _mount(source: str | None, target: str, fstype: str | None, flags: int) -> None:
    result = _libc.mount(
        source.encode() if source else None, target.encode(), fstype.encode() if fstype else None, flags, None
    )
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target}: {os.strerror(errno)}")


def _prepare_target(target: Path, is_file: bool) -> None:
    if is_file:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.touch()
    else:
        target.mkdir(parents=True, exist_ok=True)


def _mount_all(spec: dict[str, Any], root: str = "") -> None:
    """Scratch roots and volumes, under ``root`` (an image's new root) or on the host's tree (``""``)."""
    for scratch in SCRATCH_ROOTS:
        if any(m["target"] == scratch or m["target"].startswith(scratch + "/") for m in spec["mounts"]):
            Path(root + scratch).mkdir(exist_ok=True)
            _mount("tmpfs", root + scratch, "tmpfs", 0)
    for mount in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
        source, target = mount["source"], root + mount["target"]
        _prepare_target(Path(target), Path(source).is_file())
        _mount(source, target, None, MS_BIND)
        if mount.get("readOnly"):
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _enter_image(spec: dict[str, Any]) -> None:
    """Build the image's root (see the module docstring), ``chroot`` into it and become its user."""
    image = spec["image"]
    root = image["root"]
    _mount(image["rootfs"], root, None, MS_BIND)
    _mount_all(spec, root)
    _mount("proc", f"{root}/proc", "proc", 0)
    _mount("/dev", f"{root}/dev", None, MS_BIND | MS_REC)
    Path(root + spec["workingDir"]).mkdir(parents=True, exist_ok=True)
    if image["readOnly"]:
        _mount(None, root, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    os.chroot(root)
    os.setgroups([])
    os.setgid(image["gid"])
    os.setuid(image["uid"])


def main(argv: list[str] | None = None) -> int:
    """Mount, change directory, exec: never returns on success."""
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text())
    try:
        if spec.get("image"):
            _enter_image(spec)
        else:
            _mount_all(spec)
        working_dir = Path(spec["workingDir"])
        if not spec.get("image"):
            working_dir.mkdir(parents=True, exist_ok=True)
        os.chdir(working_dir)
    except OSError as error:
        print(f"executor: cannot set up the container: {error}", file=sys.stderr)
        return 128
    argv_ = spec["argv"]
    try:
        os.execvpe(argv_[0], argv_, spec["env"])
    except OSError as error:
        # what a runtime reports for a missing executable: exec failed, exit 127
        print(f'executor: exec: "{argv_[0]}": {error.strerror}', file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())

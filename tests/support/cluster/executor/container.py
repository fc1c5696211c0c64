"""Start one container's process inside a private mount namespace, with the pod's volumes where the spec puts them.

Run by the executor as ``unshare --mount --propagation private -- python -m
tests.support.cluster.executor.container SPEC.json``. In that namespace it mounts a tmpfs on each scratch root
(``/tekton``, ``/workspace``, ``/ko-app``: directories that exist empty on the host), bind-mounts every volume at its
``mountPath`` (read-only ones remounted read-only), the container's termination-message file at its
``terminationMessagePath``, and Tekton's ``entrypoint`` and ``workingdirinit`` binaries at ``/ko-app/``; then it
changes to the working directory and ``exec``s the command with the resolved environment. Nothing it mounts is
visible outside, so the steps of one pod, and different pods, see their own ``/tekton``.

What is not imitated: the image (the host's filesystem is the container's, so commands resolve on the host's
``PATH``), users and capabilities (the process runs as root), and resource limits.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["SCRATCH_ROOTS", "main"]

SCRATCH_ROOTS = ("/tekton", "/workspace", "/ko-app")
"""Get a fresh tmpfs in every container; any other mount point must already exist on the host."""

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096

_libc = ctypes.CDLL(None, use_errno=True)


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


def _mount_all(spec: dict[str, Any]) -> None:
    for root in SCRATCH_ROOTS:
        if any(m["target"] == root or m["target"].startswith(root + "/") for m in spec["mounts"]):
            _mount("tmpfs", root, "tmpfs", 0)
    for mount in sorted(spec["mounts"], key=lambda m: m["target"].count("/")):
        source, target = mount["source"], mount["target"]
        _prepare_target(Path(target), Path(source).is_file())
        _mount(source, target, None, MS_BIND)
        if mount.get("readOnly"):
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def main(argv: list[str] | None = None) -> int:
    """Mount, change directory, exec: never returns on success."""
    args = sys.argv[1:] if argv is None else argv
    spec: dict[str, Any] = json.loads(Path(args[0]).read_text())
    try:
        _mount_all(spec)
        working_dir = Path(spec["workingDir"])
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

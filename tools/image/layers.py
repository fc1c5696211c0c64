"""Deterministic layer archives: the same tree gives the same bytes, so the same inputs give the same digest.

A layer is a gzip-compressed tar (``application/vnd.oci.image.layer.v1.tar+gzip``). Entries are written in sorted
order with one timestamp (the build's ``SOURCE_DATE_EPOCH``), owner 0:0 and no user or group names; hard links
are stored as plain files; device nodes, sockets and pipes are left out (a runtime provides ``/dev``). The gzip
header carries no file name and a zero time. What a layer's config lists (``diff_id``) is the digest of the
uncompressed tar; what a manifest lists is the digest of the compressed blob.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layer", "write_layer"]


@dataclass(frozen=True)
class Layer:
    """A written layer blob and the two digests an image refers to it by."""

    path: Path
    digest: str
    """``sha256:<hex>`` of the compressed blob (the manifest's descriptor)."""
    diff_id: str
    """``sha256:<hex>`` of the uncompressed tar (the config's ``rootfs.diff_ids``)."""
    size: int
    uncompressed_size: int

    def save_record(self, record: Path) -> None:
        """Write what :meth:`from_record` reads back: how a cache remembers a layer it built."""
        record.write_text(f"{self.digest} {self.diff_id} {self.size} {self.uncompressed_size}\n")

    @classmethod
    def from_record(cls, blob: Path, record: Path) -> Layer:
        """The layer whose blob is ``blob``, as :meth:`save_record` described it."""
        digest, diff_id, size, uncompressed = record.read_text().split()
        return cls(blob, digest, diff_id, int(size), int(uncompressed))


def _walk(root: Path, keep: Callable[[str], bool]) -> Iterator[tuple[str, Path]]:
    """``(archive name, path)`` of every entry under ``root`` that ``keep`` accepts, parents first, sorted."""
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        here = Path(directory)
        relative = here.relative_to(root).as_posix()
        names = sorted([*subdirs, *files])
        kept_dirs = []
        for name in names:
            archive_name = name if relative == "." else f"{relative}/{name}"
            if not keep(archive_name):
                continue
            if name in subdirs and not (here / name).is_symlink():
                kept_dirs.append(name)
            yield archive_name, here / name
        subdirs[:] = [d for d in subdirs if d in kept_dirs]


def _entry(archive_name: str, path: Path, epoch: int) -> tuple[tarfile.TarInfo, bytes | None]:
    info = os.lstat(path)
    entry = tarfile.TarInfo(archive_name)
    entry.mtime = epoch
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    entry.mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        entry.type = tarfile.SYMTYPE
        entry.linkname = str(path.readlink())
        return entry, None
    if stat.S_ISDIR(info.st_mode):
        entry.type = tarfile.DIRTYPE
        return entry, None
    if stat.S_ISREG(info.st_mode):
        data = path.read_bytes()
        entry.size = len(data)
        return entry, data
    raise ValueError(f"{path}: not a file, directory or symlink (devices, sockets and pipes do not go in a layer)")


def write_layer(root: Path, prefix: str, out: Path, epoch: int, keep: Callable[[str], bool] = lambda _: True) -> Layer:
    """Archive the tree under ``root`` as ``prefix/...`` (``""`` for the filesystem root) into ``out``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        parts = [p for p in prefix.split("/") if p]
        for depth in range(1, len(parts) + 1):
            parent = tarfile.TarInfo("/".join(parts[:depth]))
            parent.type, parent.mode, parent.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(parent)
        for archive_name, path in _walk(root, keep):
            name = f"{prefix.strip('/')}/{archive_name}" if prefix.strip("/") else archive_name
            entry, data = _entry(name, path, epoch)
            tar.addfile(entry, io.BytesIO(data) if data is not None else None)
    uncompressed = raw.getvalue()
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=6) as gz:
        gz.write(uncompressed)
    blob = compressed.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    return Layer(
        path=out,
        digest=f"sha256:{hashlib.sha256(blob).hexdigest()}",
        diff_id=f"sha256:{hashlib.sha256(uncompressed).hexdigest()}",
        size=len(blob),
        uncompressed_size=len(uncompressed),
    )

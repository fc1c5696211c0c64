"""Write an OCI image layout (image-spec v1.1) and its archive, byte for byte the same for the same inputs.

The layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``) is what ``skopeo`` and ``umoci`` read as
``oci:DIR:TAG``; the archive is that layout in one tar (``oci-archive:FILE``). JSON is written with sorted keys
and no spaces, and every time in it is the build's epoch, so the manifest digest (the image's digest) depends
only on what is inside.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.image.layers import Layer

__all__ = ["ImageConfig", "Written", "write_archive", "write_layout"]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class ImageConfig:
    """What the runtime takes from the image: user, environment, entrypoint, labels."""

    user: str
    env: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    working_dir: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Written:
    """The image as written: its digest (the manifest's) and where its layout is."""

    digest: str
    layout: Path
    tag: str
    manifest_size: int


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def _created(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_layout(layout: Path, tag: str, config: ImageConfig, layers: list[tuple[Layer, str]], epoch: int) -> Written:
    """Write the layout with ``layers`` (each with the history line that says what made it) under ``tag``."""
    created = _created(epoch)
    config_document = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "User": config.user,
            "Env": list(config.env),
            "Entrypoint": list(config.entrypoint),
            "Cmd": list(config.cmd),
            "WorkingDir": config.working_dir,
            "Labels": config.labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer, _ in layers]},
        "history": [{"created": created, "created_by": created_by} for _, created_by in layers],
    }
    for layer, _ in layers:
        target = layout / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(layer.path.read_bytes())
    config_bytes = _json(config_document)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": _blob(layout, config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": LAYER, "digest": layer.digest, "size": layer.size} for layer, _ in layers],
        "annotations": {"org.opencontainers.image.created": created, **config.labels},
    }
    manifest_bytes = _json(manifest)
    digest = _blob(layout, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": MANIFEST,
                "digest": digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_bytes(_json(index))
    (layout / "oci-layout").write_bytes(_json({"imageLayoutVersion": "1.0.0"}))
    return Written(digest=digest, layout=layout, tag=tag, manifest_size=len(manifest_bytes))


def write_archive(layout: Path, out: Path, epoch: int) -> None:
    """The layout as one tar, entries sorted, one timestamp: what ``skopeo`` reads as ``oci-archive:``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(layout.rglob("*")):
            entry = tarfile.TarInfo(path.relative_to(layout).as_posix())
            entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = epoch, 0, 0, "", ""
            if path.is_dir():
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(entry)
            else:
                data = path.read_bytes()
                entry.size, entry.mode = len(data), 0o644
                tar.addfile(entry, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(raw.getvalue())

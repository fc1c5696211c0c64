"""A pod's volumes as directories on the host, filled the way the kubelet fills them.

Each volume becomes ``<pod dir>/volumes/<name>/``, bind-mounted into the containers that mount it
(:mod:`.container`):

* ``emptyDir``: an empty directory;
* ``downwardAPI``: one file per item (``fieldRef`` of the pod), rewritten whenever the pod changes (Tekton's ready
  and cancel annotations travel this way);
* ``secret`` / ``configMap``: one file per key (or per ``items`` entry), Secret values base64-decoded; a missing
  object that is ``optional`` gives an empty directory, one that is not keeps the pod Pending (:class:`MountError`),
  as a kubelet keeps retrying ``FailedMount``;
* ``projected``: ServiceAccount tokens from the TokenRequest API (bound to the pod), ConfigMap, Secret and downward
  API sources: what ServiceAccount admission's ``kube-api-access-*`` volume needs;
* ``persistentVolumeClaim``: one host directory per claim under the executor's directory, shared by every pod that
  mounts the claim.

Anything else (hostPath, CSI, ...) is :class:`~.unsupported.Unsupported`, with the volume named (normally caught
before the pod starts, by :func:`~.unsupported.check`): the pod fails instead of waiting for a mount that never
comes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.cluster.executor.environment import Lookup, pod_field
from tests.support.cluster.executor.unsupported import Unsupported

__all__ = ["MountError", "TokenRequest", "lay_out", "refresh_downward"]

Obj = dict[str, Any]
TokenRequest = Callable[[str, int], str]
"""``request(audience, expiration_seconds)``: a token for the pod's ServiceAccount, bound to the pod."""


class MountError(Exception):
    """A volume cannot be set up yet: the pod stays Pending; the message is the kubelet's ``FailedMount`` event's."""


def _write(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    temporary.chmod(mode)
    temporary.replace(path)


def _set_up_failed(volume: str) -> str:
    """The start of the kubelet's ``FailedMount`` message for a volume."""
    return f'MountVolume.SetUp failed for volume "{volume}" :'


def _object_files(kind: str, obj: Obj | None, source: Obj, optional: bool, what: str) -> dict[str, bytes]:
    if obj is None:
        if optional:
            return {}
        raise MountError(f'{what} {kind.lower()} "{source.get("secretName") or source.get("name")}" not found')
    if kind == "Secret":
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    else:
        data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        data |= {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
    items = source.get("items")
    if not items:
        return data
    files = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise MountError(f"{what} {kind.lower()} references non-existent {kind.lower()} key: {item['key']}")
        files[item["path"]] = data[item["key"]]
    return files


def _downward_files(pod: Obj, items: list[Obj]) -> dict[str, bytes]:
    files = {}
    for item in items:
        if "fieldRef" not in item:
            raise Unsupported(f"downward API item {item.get('path')!r} without fieldRef")
        files[item["path"]] = pod_field(pod, item["fieldRef"]["fieldPath"]).encode()
    return files


def _volume_files(pod: Obj, volume: Obj, lookup: Lookup, token: TokenRequest) -> dict[str, bytes] | None:
    """The files of a content volume, or None for a plain directory (emptyDir)."""
    name = volume["name"]
    if "emptyDir" in volume:
        return None
    if "downwardAPI" in volume:
        return _downward_files(pod, volume["downwardAPI"].get("items") or [])
    if "secret" in volume:
        source = volume["secret"]
        obj = lookup("Secret", source["secretName"])
        return _object_files("Secret", obj, source, bool(source.get("optional")), _set_up_failed(name))
    if "configMap" in volume:
        source = volume["configMap"]
        obj = lookup("ConfigMap", source["name"])
        return _object_files("ConfigMap", obj, source, bool(source.get("optional")), _set_up_failed(name))
    if "projected" in volume:
        files: dict[str, bytes] = {}
        for source in volume["projected"].get("sources") or []:
            if "serviceAccountToken" in source:
                request = source["serviceAccountToken"]
                files[request["path"]] = token(
                    request.get("audience", ""), request.get("expirationSeconds", 3600)
                ).encode()
            elif "configMap" in source or "secret" in source:
                kind = "ConfigMap" if "configMap" in source else "Secret"
                inner = source["configMap" if kind == "ConfigMap" else "secret"]
                obj = lookup(kind, inner["name"])
                files |= _object_files(kind, obj, inner, bool(inner.get("optional")), _set_up_failed(name))
            elif "downwardAPI" in source:
                files |= _downward_files(pod, source["downwardAPI"].get("items") or [])
            else:
                raise Unsupported(f"volume {name!r}: projected source {sorted(source)}")
        return files
    raise Unsupported(f"volume {name!r} of type {', '.join(sorted(set(volume) - {'name'}))}")


def lay_out(pod: Obj, pod_dir: Path, claims_dir: Path, lookup: Lookup, token: TokenRequest) -> dict[str, Path]:
    """Create every volume of ``pod`` under ``pod_dir/volumes``; return volume name -> host directory."""
    paths: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        if "persistentVolumeClaim" in volume:
            path = claims_dir / pod["metadata"]["namespace"] / volume["persistentVolumeClaim"]["claimName"]
            path.mkdir(parents=True, exist_ok=True)
            paths[name] = path
            continue
        path = pod_dir / "volumes" / name
        files = _volume_files(pod, volume, lookup, token)
        path.mkdir(parents=True, exist_ok=True)
        if files is None:
            path.chmod(0o777)  # an emptyDir is writable by every user, as the kubelet makes it
        mode = _default_mode(volume)
        for relative, content in (files or {}).items():
            _write(path / relative, content, mode)
        paths[name] = path
    return paths


def _default_mode(volume: Obj) -> int:
    for kind in ("secret", "configMap", "downwardAPI", "projected"):
        if kind in volume and volume[kind].get("defaultMode") is not None:
            return int(volume[kind]["defaultMode"])
    return 0o644


def refresh_downward(pod: Obj, paths: dict[str, Path]) -> None:
    """Rewrite the downward API files of a running pod after it changed (annotations, labels)."""
    for volume in pod["spec"].get("volumes") or []:
        if "downwardAPI" in volume and volume["name"] in paths:
            for relative, content in _downward_files(pod, volume["downwardAPI"].get("items") or []).items():
                target = paths[volume["name"]] / relative
                if not target.exists() or target.read_bytes() != content:
                    _write(target, content, _default_mode(volume))

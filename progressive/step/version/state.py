"""The app's state record: ConfigMap ``progressive-<app>-versions``, key ``versions.json``, CAS-written.

It holds the desired set: per version its commit, image, configuration hash and ConfigMap, the ConfigMaps of its
earlier configurations (latest first), replicas and weight, plus the weights a ``set-weights`` is changing to
(``pending``) while it runs. Everything else is read back from the cluster. Every write is a read-modify-write
with ``resourceVersion`` (:meth:`Objects.update`): a 409 re-reads and re-applies the change, so two writers never
silently overwrite each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from progressive.errors import UsageError
from progressive.kube.labels import MANAGED_BY, MANAGER
from progressive.kube.objects import JSON, AlreadyExistsError, Objects
from progressive.kube.resources import CONFIGMAPS, Ref
from progressive.versions.naming import short, state_name
from progressive.versions.objects import APP_LABEL

__all__ = ["KEY", "AppRecord", "VersionRecord", "VersionStore"]

KEY = "versions.json"
EARLIER_LIMIT = 20
"""At most this many earlier configurations are remembered per version."""


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One live version as recorded."""

    commit: str
    image: str
    config_hash: str
    configmap: str
    replicas: int
    weight: int = 0
    earlier_configmaps: tuple[str, ...] = ()
    """The ConfigMaps of the configurations this version had before, the latest first (at most
    :data:`EARLIER_LIMIT`): the order configurations were used in, which no timestamp of the cluster's gives
    (``creationTimestamp`` counts whole seconds, and a restored configuration is an old ConfigMap)."""

    @property
    def short(self) -> str:
        """The commit's first 7 hex digits."""
        return short(self.commit)

    @property
    def configmaps(self) -> tuple[str, ...]:
        """The ConfigMaps of its configurations, the current one first, then the latest before it."""
        return (self.configmap, *self.earlier_configmaps)


@dataclass(frozen=True, slots=True)
class AppRecord:
    """The desired set of versions, and the weights being written (``pending``, by commit)."""

    versions: tuple[VersionRecord, ...] = ()
    generation: int = 0
    pending: dict[str, int] = field(default_factory=dict)

    def find(self, commit: str) -> VersionRecord | None:
        """The version of ``commit`` (full or short)."""
        return next((v for v in self.versions if commit in {v.commit, v.short}), None)

    def upsert(self, version: VersionRecord) -> AppRecord:
        """With ``version`` added or replaced (by commit), in commit order of first appearance."""
        others = [v for v in self.versions if v.commit != version.commit]
        if len(others) == len(self.versions):
            return replace(self, versions=(*self.versions, version))
        return replace(self, versions=tuple(version if v.commit == version.commit else v for v in self.versions))

    def with_config(self, commit: str, config_hash: str, configmap: str) -> AppRecord:
        """With the version of ``commit`` on that configuration; unchanged when it is not recorded."""
        found = self.find(commit)
        if found is None or (found.config_hash, found.configmap) == (config_hash, configmap):
            return self
        earlier = tuple(name for name in found.configmaps if name != configmap)[:EARLIER_LIMIT]
        return self.upsert(replace(found, config_hash=config_hash, configmap=configmap, earlier_configmaps=earlier))

    def without(self, commit: str) -> AppRecord:
        """Without the version of ``commit``."""
        return replace(self, versions=tuple(v for v in self.versions if v.commit != commit))

    def to_json(self) -> str:
        """The record as stored."""
        body = {
            "generation": self.generation,
            "versions": [
                {
                    "commit": v.commit,
                    "image": v.image,
                    "configHash": v.config_hash,
                    "configMap": v.configmap,
                    "replicas": v.replicas,
                    "weight": v.weight,
                    **({"earlierConfigMaps": list(v.earlier_configmaps)} if v.earlier_configmaps else {}),
                }
                for v in self.versions
            ],
            "pending": dict(self.pending),
        }
        return json.dumps(body, indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> AppRecord:
        """Parse a stored record; ValueError/KeyError/TypeError when malformed."""
        body: dict[str, Any] = json.loads(text)
        versions = tuple(
            VersionRecord(
                commit=str(item["commit"]),
                image=str(item["image"]),
                config_hash=str(item["configHash"]),
                configmap=str(item["configMap"]),
                replicas=int(item["replicas"]),
                weight=int(item.get("weight", 0)),
                earlier_configmaps=tuple(str(name) for name in item.get("earlierConfigMaps") or []),
            )
            for item in body.get("versions") or []
        )
        pending = {str(k): int(v) for k, v in (body.get("pending") or {}).items()}
        return cls(versions=versions, generation=int(body.get("generation", 0)), pending=pending)

    def as_dict(self) -> dict[str, Any]:
        """For JSON output."""
        return {"generation": self.generation, "versions": [asdict(v) for v in self.versions], "pending": self.pending}


class VersionStore:
    """Read and CAS-update one app's state record."""

    def __init__(self, objects: Objects, namespace: str, app: str) -> None:
        self.objects = objects
        self.app = app
        self.ref: Ref = CONFIGMAPS.ref(namespace, state_name(app))

    def _decode(self, configmap: JSON | None) -> AppRecord:
        text = ((configmap or {}).get("data") or {}).get(KEY)
        if not text:
            return AppRecord()
        try:
            return AppRecord.from_json(text)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{self.ref} key {KEY}: not a valid versions record ({exc}); fix or delete it") from None

    def read(self) -> AppRecord:
        """The record; empty when the ConfigMap does not exist yet."""
        return self._decode(self.objects.find(self.ref))

    def update(self, change: Callable[[AppRecord], AppRecord]) -> AppRecord:
        """Apply ``change`` (pure; may run again after a 409) and store the result with a new generation."""
        for _attempt in range(3):
            found = self.objects.find(self.ref)
            if found is None:
                record = change(AppRecord())
                body: JSON = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": self.ref.name,
                        "namespace": self.ref.namespace,
                        "labels": {MANAGED_BY: MANAGER, APP_LABEL: self.app},
                    },
                    "data": {KEY: replace(record, generation=1).to_json()},
                }
                try:
                    return self._decode(self.objects.create(self.ref, body))
                except AlreadyExistsError:
                    continue  # created meanwhile by another writer: read it and apply the change to it

            def edit(configmap: JSON) -> JSON | None:
                current = self._decode(configmap)
                wanted = change(current)
                if replace(wanted, generation=current.generation) == current:
                    return None
                configmap.setdefault("data", {})[KEY] = replace(wanted, generation=current.generation + 1).to_json()
                return configmap

            return self._decode(self.objects.update(self.ref, edit, seen=found).object)
        raise UsageError(f"{self.ref}: created and deleted repeatedly while being written")

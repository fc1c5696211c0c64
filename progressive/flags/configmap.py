"""Flags in a flagd JSON document held by one ConfigMap key (flagd without the operator, ``file`` sync).

The key holds the whole flagd document (``{"flags": {...}, "$evaluators": ..., "metadata": ...}``) as one
string, so a change is a read-modify-write of the whole ConfigMap with the ``resourceVersion`` read
(:meth:`Objects.update`: 409 → read again, recompute). Only ``defaultVariant`` and ``targeting`` of the one
flag change; the rest of the document is kept (re-serialised with two-space indentation when it changes).

flagd reading the key through a mounted volume sees the change after the kubelet's sync (about a minute,
never with ``subPath``); its verification budget must allow for that.
"""

from __future__ import annotations

import json
from typing import Any

from progressive.flags.base import FlagEntry, FlagShapeError, FlagWritten, Split, desired
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import CONFIGMAPS

__all__ = ["ConfigMapDriver"]


class ConfigMapDriver:
    """Reads and writes one flag of the flagd document in ConfigMap ``name``, key ``data_key``."""

    def __init__(self, objects: Objects, namespace: str, name: str, data_key: str, flag_key: str) -> None:
        self.objects = objects
        self.ref = CONFIGMAPS.ref(namespace, name)
        self.data_key = data_key
        self.flag_key = flag_key

    @property
    def _where(self) -> str:
        return f"ConfigMap {self.ref.namespace}/{self.ref.name} key {self.data_key!r}"

    def _document(self, obj: JSON) -> dict[str, Any]:
        text = (obj.get("data") or {}).get(self.data_key)
        if text is None:
            keys = ", ".join(obj.get("data") or {}) or "none"
            raise FlagShapeError(f"--configmap-key: {self._where} does not exist (the ConfigMap has {keys})")
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise FlagShapeError(f"{self._where}: not a JSON flagd document ({exc})") from None
        if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
            raise FlagShapeError(f"{self._where}: the flagd document has no 'flags' object")
        return document

    def _entry(self, document: dict[str, Any]) -> FlagEntry:
        flags = document["flags"]
        found = flags.get(self.flag_key)
        if not isinstance(found, dict):
            known = ", ".join(flags) or "none"
            raise FlagShapeError(f"--flag: {self.flag_key!r} is not a flag of {self._where} (it has {known})")
        return FlagEntry(f"flag {self.flag_key!r} in {self._where}", self.flag_key, found)

    def read(self) -> FlagEntry:
        """The flag now (exit 3 when the ConfigMap is missing, 2 when the key or the flag is)."""
        return self._entry(self._document(self.objects.get(self.ref)))

    def _rewrite(self, target: Any) -> tuple[bool, tuple[str | None, Any], tuple[str | None, Any]]:
        seen: dict[str, tuple[str | None, Any]] = {}

        def change(obj: JSON) -> JSON | None:
            document = self._document(obj)
            entry = self._entry(document)
            found = (entry.default_variant, entry.targeting)
            wanted = target(entry)
            if "before" not in seen or found != seen.get("wanted"):  # a retry after a lost answer finds our write
                seen["before"] = found
            seen["after"] = found
            if wanted is None or wanted == found:
                return None
            flag = document["flags"][self.flag_key]
            flag["defaultVariant"] = wanted[0]
            if wanted[1] is None:
                flag.pop("targeting", None)
            else:
                flag["targeting"] = wanted[1]
            obj["data"][self.data_key] = json.dumps(document, indent=2) + "\n"
            seen["after"] = seen["wanted"] = wanted
            return obj

        updated = self.objects.update(self.ref, change)
        return updated.changed, seen["before"], seen["after"]

    def set_split(self, split: Split, baseline: str) -> FlagWritten:
        """Write ``split``; nothing when the flag already serves it."""
        changed, before, after = self._rewrite(lambda entry: desired(entry, split, baseline))
        return FlagWritten(changed, before, after)

    def restore(self, written: FlagWritten) -> bool:
        """Put back what :meth:`set_split` replaced, only where the flag still holds what it wrote."""
        if not written.changed:
            return False
        restored, _, _ = self._rewrite(
            lambda entry: written.before if (entry.default_variant, entry.targeting) == written.after else None
        )
        return restored

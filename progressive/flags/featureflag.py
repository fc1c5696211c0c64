"""Flags in an OpenFeature Operator ``FeatureFlag`` (``core.openfeature.dev/v1beta1``), the flagd ``kubernetes`` sync.

The flag is ``spec.flagSpec.flags.<key>``. A change is one JSON merge patch (CRDs have no strategic merge)
that carries the ``resourceVersion`` read, so a concurrent edit makes the server answer 409 and the step
reads again and recomputes. A merge patch replaces the ``fractional`` array whole and ``"targeting": null``
removes the rule; it merges objects, so keys of a replaced rule are sent as ``null``. Only ``defaultVariant``
and ``targeting`` of that one flag are ever sent.

flagd's kubernetes sync (an informer on the FeatureFlag) serves the change within seconds.
"""

from __future__ import annotations

from typing import Any

from progressive.errors import StepError
from progressive.flags.base import FlagEntry, FlagShapeError, FlagWritten, Split, desired
from progressive.kube.objects import JSON, Objects
from progressive.kube.resources import Ref, Resource
from progressive.kube.retry import Deadline, fail, retrying
from progressive.kube.status import ApiError

__all__ = ["FEATUREFLAGS", "FeatureFlagDriver"]

FEATUREFLAGS = Resource("core.openfeature.dev/v1beta1", "FeatureFlag", "featureflags")


def _entry(obj: JSON, ref: Ref, key: str) -> FlagEntry:
    where = f"flag {key!r} in FeatureFlag {ref.namespace}/{ref.name}"
    flags = ((obj.get("spec") or {}).get("flagSpec") or {}).get("flags") or {}
    found = flags.get(key) if isinstance(flags, dict) else None
    if not isinstance(found, dict):
        known = ", ".join(flags) if isinstance(flags, dict) and flags else "none"
        raise FlagShapeError(
            f"--flag: {key!r} is not a flag of FeatureFlag {ref.namespace}/{ref.name} (it has {known})"
        )
    return FlagEntry(where, key, found)


class FeatureFlagDriver:
    """Reads and writes one flag of one FeatureFlag; see the module docstring."""

    def __init__(self, objects: Objects, namespace: str, name: str, flag_key: str) -> None:
        self.objects = objects
        self.ref = FEATUREFLAGS.ref(namespace, name)
        self.flag_key = flag_key

    def read(self) -> FlagEntry:
        """The flag now (exit 3 when the FeatureFlag is missing, 2 when it has no such flag)."""
        return _entry(self.objects.get(self.ref), self.ref, self.flag_key)

    def _patch(self, version: str, found: Any, wanted: tuple[str | None, Any], deadline: Deadline) -> None:
        targeting = wanted[1]
        if isinstance(found, dict) and isinstance(targeting, dict):
            # a merge patch merges objects: keys of the old rule the new one lacks must be deleted explicitly
            targeting = {**dict.fromkeys(found), **targeting}
        flag = {"defaultVariant": wanted[0], "targeting": targeting}
        body = {"metadata": {"resourceVersion": version}, "spec": {"flagSpec": {"flags": {self.flag_key: flag}}}}
        self.objects.request(
            "PATCH",
            self.ref.path,
            body=body,
            timeout=deadline.request_timeout(),
            content_type="application/merge-patch+json",
        )

    def _rewrite(self, what: str, target: Any) -> tuple[bool, tuple[str | None, Any], tuple[str | None, Any]]:
        """Read, let ``target(entry)`` say the wanted (default, targeting) or ``None``, patch; retried on 409.

        Returns (a patch may have been applied, what was found, what is there now).
        """
        deadline = Deadline.start(self.objects.api_timeout)
        maybe_applied = False
        before: tuple[str | None, Any] = (None, None)
        try:
            for attempt in retrying(what, self.objects.api_timeout):
                with attempt:
                    obj = self.objects.get(self.ref)
                    entry = _entry(obj, self.ref, self.flag_key)
                    found = (entry.default_variant, entry.targeting)
                    if not maybe_applied:  # after a lost answer, what we found first is what we replaced
                        before = found
                    wanted = target(entry)
                    if wanted is None or wanted == found:
                        return maybe_applied, before, found
                    try:
                        self._patch(obj["metadata"]["resourceVersion"], entry.targeting, wanted, deadline)
                    except ApiError as exc:
                        maybe_applied = maybe_applied or not 400 <= exc.status < 500
                        raise
                    except Exception:
                        maybe_applied = True
                        raise
                    return True, before, wanted
        except StepError:
            raise
        except Exception as exc:
            raise fail(what, exc) from exc
        raise AssertionError("unreachable")

    def set_split(self, split: Split, baseline: str) -> FlagWritten:
        """Write ``split``; nothing when the flag already serves it."""
        changed, before, after = self._rewrite(
            f"patch flag {self.flag_key!r} of FeatureFlag {self.ref.namespace}/{self.ref.name}",
            lambda entry: desired(entry, split, baseline),
        )
        return FlagWritten(changed, before, after)

    def restore(self, written: FlagWritten) -> bool:
        """Put back what :meth:`set_split` replaced, only where the flag still holds what it wrote."""
        if not written.changed:
            return False
        restored, _, _ = self._rewrite(
            f"restore flag {self.flag_key!r} of FeatureFlag {self.ref.namespace}/{self.ref.name}",
            lambda entry: written.before if (entry.default_variant, entry.targeting) == written.after else None,
        )
        return restored

"""Feature flag backends: one module per place a flagd flag is stored, behind :class:`~.base.FlagDriver`.

==============  =============================================  ==========================
``--source``    object (``--name``)                            module
==============  =============================================  ==========================
featureflag     ``core.openfeature.dev/v1beta1`` FeatureFlag    :mod:`~.featureflag`
configmap       ConfigMap holding a flagd document (one key)   :mod:`~.configmap`
==============  =============================================  ==========================
"""

from __future__ import annotations

from progressive.contract import FLAG_SOURCES
from progressive.errors import UsageError
from progressive.flags.base import FlagDriver
from progressive.kube.objects import Objects

__all__ = ["FLAG_SOURCES", "open_driver"]


def open_driver(
    objects: Objects, source: str, namespace: str, name: str, *, flag_key: str, data_key: str
) -> FlagDriver:
    """The backend for ``source``; :class:`UsageError` naming the flag for an unknown one."""
    if source == "featureflag":
        from progressive.flags.featureflag import FeatureFlagDriver  # noqa: PLC0415 - a step loads one backend

        return FeatureFlagDriver(objects, namespace, name, flag_key)
    if source == "configmap":
        from progressive.flags.configmap import ConfigMapDriver  # noqa: PLC0415

        if not data_key:
            raise UsageError("--configmap-key: is required with --source=configmap")
        return ConfigMapDriver(objects, namespace, name, data_key, flag_key)
    raise UsageError(f"--source: {source!r} is not one of {', '.join(FLAG_SOURCES)}")

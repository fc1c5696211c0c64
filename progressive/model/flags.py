"""Feature flags a rollout ramps (OpenFeature / flagd): the flag, where it is stored, and the stage that moves it.

A ``Rollout`` with ``flag=FlagTarget(...)`` may put :class:`SetFlag` stages among its traffic stages. Each becomes
one ``progressive step flag-set`` run (:mod:`progressive.step.flag_set`): it gives ``variant`` (e.g. ``on``) to
``percent`` of evaluations and ``baseline`` (e.g. ``off``) to the rest by rewriting the flag's top-level
``fractional`` rule, and with ``evaluation_url`` verifies through flagd that probe keys get the variant the split
implies. The variant order is fixed, so a ramp is monotone: a user who got ``on`` at 5% still gets it at 50%. A
failed run puts everyone back on ``baseline`` in ``finally``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from progressive.model._base import (
    DnsSubdomain,
    FrozenModel,
    HttpUrl,
    PositiveDuration,
    SecretKey,
    Weight,
    register_tags,
)

__all__ = ["FeatureFlagSource", "FlagName", "FlagSource", "FlagTarget", "FlagdConfigMap", "SetFlag"]

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def _check_flag_name(value: str) -> str:
    """Flag keys and variant names reach Task params and ``--split=on=25,off=75``: no separators, no ``$(``."""
    if not _NAME.fullmatch(value) or len(value) > 253:
        raise ValueError(f"{value!r} is not a flag or variant name (letters, digits, '_', '-', '.'; no ',' or '=')")
    return value


FlagName = Annotated[str, AfterValidator(_check_flag_name)]
"""A flag key or a variant name."""


class FeatureFlagSource(FrozenModel):
    """The flag lives in an OpenFeature Operator ``FeatureFlag`` (``core.openfeature.dev/v1beta1``)."""

    kind: Literal["featureflag"] = "featureflag"
    name: DnsSubdomain = Field(description="The FeatureFlag in the rollout's namespace.")


class FlagdConfigMap(FrozenModel):
    """The flag lives in a flagd JSON document held by one key of a ConfigMap (flagd's file sync of a mount)."""

    kind: Literal["configmap"] = "configmap"
    name: DnsSubdomain = Field(description="The ConfigMap in the rollout's namespace.")
    key: SecretKey = Field(default="flags.flagd.json", description="The data key holding the flagd document.")


FlagSource = Annotated[FeatureFlagSource | FlagdConfigMap, Field(discriminator="kind")]
"""Where the flag is stored."""


class FlagTarget(FrozenModel):
    """The flag a rollout ramps, the two variants it moves between, and how flagd is asked for read-back."""

    key: FlagName = Field(description="The flag key.")
    source: FlagSource = Field(description="Where the flag is stored.")
    variant: FlagName = Field(default="on", description="The variant being rolled out.")
    baseline: FlagName = Field(
        default="off", description="The variant everyone else gets, and everyone after a rollback."
    )
    evaluation_url: HttpUrl | None = Field(
        default=None,
        description="flagd's OFREP base URL (e.g. http://flagd.shop:8016) for probe verification; "
        "None: the split is written and read back from the object only.",
    )
    verify_timeout: PositiveDuration = Field(
        default="2m",
        description="How long flagd may take to serve a new split (a mounted ConfigMap: allow the kubelet's sync).",
    )

    @model_validator(mode="after")
    def _two_variants(self) -> FlagTarget:
        if self.variant == self.baseline:
            raise ValueError(f"variant and baseline are both {self.variant!r}; a rollout moves between two variants")
        return self

    def split(self, percent: int) -> str:
        """The ``--split`` of ``flag-set`` for ``percent`` on :attr:`variant`, variant listed first."""
        return f"{self.variant}={percent},{self.baseline}={100 - percent}"


class SetFlag(FrozenModel):
    """Serve the flag's variant to ``percent`` of evaluations (bucketed by targeting key), verified through flagd."""

    kind: Literal["flag-set"] = "flag-set"
    percent: Weight = Field(description="Share of the rolled-out variant in percent.")
    timeout: PositiveDuration = Field(default="5m", description="Budget of the stage, verification included.")


register_tags("flag-set", "featureflag", "configmap")

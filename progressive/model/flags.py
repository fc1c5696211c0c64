"""Feature flag rollouts: which flagd flag a rollout ramps, where it is stored, and its stages.

A :class:`FlagRollout` ramps the share of evaluations that get ``variant`` (e.g. ``on``) against ``baseline``
(e.g. ``off``) through :class:`SetFlag` stages, with the same ``Pause``, ``Analyze`` and ``Approve`` stages as a
traffic rollout in between. Each :class:`SetFlag` becomes one ``progressive step flag-set`` run: it rewrites the
flag's top-level ``fractional`` rule and, with ``evaluation_url``, verifies through flagd that probe keys get the
variant the split implies (see :mod:`progressive.step.flag_set`). The variant order is fixed, so a ramp is
monotone: a user who got ``on`` at 5% still gets it at 50%.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from progressive.model._base import (
    DnsLabel,
    DnsSubdomain,
    FrozenModel,
    HttpUrl,
    ImageRef,
    Items,
    PositiveDuration,
    SecretKey,
    Weight,
    register_tags,
)
from progressive.model.analysis import Analysis
from progressive.model.rollout import DEFAULT_STEP_IMAGE
from progressive.model.steps import Analyze, Approve, Pause

__all__ = ["FeatureFlagSource", "FlagRollout", "FlagSource", "FlagStep", "FlagTarget", "FlagdConfigMap", "SetFlag"]

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
    """Serve :attr:`FlagTarget.variant` to ``percent`` of evaluations (by targeting key), verified."""

    kind: Literal["flag-set"] = "flag-set"
    percent: Weight = Field(description="Share of the rolled-out variant in percent.")
    timeout: PositiveDuration = Field(default="5m", description="Budget of the stage, verification included.")


FlagStep = Annotated[SetFlag | Pause | Analyze | Approve, Field(discriminator="kind")]
"""One stage of a flag rollout."""

register_tags("flag-set", "featureflag", "configmap")


class FlagRollout(FrozenModel):
    """A progressive rollout of one feature flag's variant, in stages."""

    name: DnsLabel = Field(description="Rollout name.")
    namespace: DnsLabel = Field(description="Namespace of the flag's object and of the pipeline.")
    flag: FlagTarget = Field(description="The flag and its variants.")
    steps: Items[FlagStep] = Field(description="Stages, in order; at least one SetFlag.")
    analysis: Analysis | None = Field(default=None, description="Needed when any step is Analyze.")
    image: ImageRef = Field(default=DEFAULT_STEP_IMAGE, description="Step image: registry/repo:tag[@sha256:digest].")
    allow_percent_decrease: bool = Field(
        default=False, description="Let a SetFlag lower the share below the previous one (off: refused as a mistake)."
    )

    @model_validator(mode="after")
    def _coherent(self) -> FlagRollout:
        problems: list[str] = []
        if not any(isinstance(step, SetFlag) for step in self.steps):
            problems.append("steps: needs at least one SetFlag")
        percent = 0
        previous: int | None = None
        for index, step in enumerate(self.steps):
            if isinstance(step, SetFlag):
                if previous is not None and step.percent < percent and not self.allow_percent_decrease:
                    problems.append(
                        f"steps[{index}].percent: {step.percent} is below {percent} set by steps[{previous}]; "
                        "to move users back to the baseline on purpose set allow_percent_decrease=True"
                    )
                percent, previous = step.percent, index
            elif isinstance(step, Analyze):
                if self.analysis is None:
                    problems.append(f"steps[{index}]: Analyze needs the rollout's analysis settings")
                elif percent == 0:
                    problems.append(
                        f"steps[{index}]: Analyze at 0% has no evaluations of {self.flag.variant!r} to judge"
                    )
        if problems:
            raise ValueError("\n".join(problems))
        return self

"""Feature flag rollouts: which flagd flag a rollout ramps, where it is stored, and its stages.

A :class:`FlagRollout` ramps the share of evaluations that get ``variant`` (e.g. ``on``) against ``baseline``
(e.g. ``off``) through :class:`SetFlag` stages, with the same ``Pause``, ``Analyze`` and ``Approve`` stages as a
traffic rollout in between. Each :class:`SetFlag` becomes one ``progressive step flag-set`` run: it rewrites the
flag's top-level ``fractional`` rule and, with ``evaluation_url``, verifies through flagd that probe keys get the
variant the split implies (see :mod:`progressive.step.flag_set`). The variant order is fixed, so a ramp is
monotone: a user who got ``on`` at 5% still gets it at 50%.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from progressive.model._base import DnsLabel, FrozenModel, ImageRef, Items
from progressive.model.analysis import Analysis
from progressive.model.flag_target import FeatureFlagSource, FlagdConfigMap, FlagSource, FlagTarget, SetFlag
from progressive.model.rollout import DEFAULT_STEP_IMAGE
from progressive.model.steps import Analyze, Approve, Pause

__all__ = ["FeatureFlagSource", "FlagRollout", "FlagSource", "FlagStep", "FlagTarget", "FlagdConfigMap", "SetFlag"]

FlagStep = Annotated[SetFlag | Pause | Analyze | Approve, Field(discriminator="kind")]
"""One stage of a flag rollout."""


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

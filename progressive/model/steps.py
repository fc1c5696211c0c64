"""The stages of a rollout: an ordered list of one-of steps, told apart by ``kind``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from progressive.model._base import (
    DnsLabel,
    DnsSubdomain,
    Duration,
    FrozenModel,
    ImageRef,
    Items,
    PositiveDuration,
    Weight,
    duration_seconds,
    register_tags,
)
from progressive.model.flags import SetFlag

__all__ = ["Analyze", "Approve", "Pause", "Run", "SetFlag", "SetWeight", "Step"]


class SetWeight(FrozenModel):
    """Send ``weight`` percent of traffic to the canary, verified by read-back."""

    kind: Literal["set-weight"] = "set-weight"
    weight: Weight = Field(description="Canary weight in percent.")
    timeout: PositiveDuration = Field(
        default="5m", description="Budget of the stage: API retries and waiting for the data plane."
    )


class Pause(FrozenModel):
    """Hold the current weight for ``duration``."""

    kind: Literal["pause"] = "pause"
    duration: Duration = Field(description="How long to hold.")


class Analyze(FrozenModel):
    """Judge the canary at the current weight with the rollout's analysis settings.

    With the sequential judge the stage passes as soon as the evidence says healthy (not before
    ``min_duration``), fails as soon as it says bad, and at ``max_duration`` acts on the judge's
    ``on_inconclusive``. With the threshold judge it runs each check's ``count`` measurements.
    """

    kind: Literal["analyze"] = "analyze"
    max_duration: PositiveDuration = Field(default="5m", description="Stage budget for the sequential judge.")
    min_duration: Duration = Field(default="1m", description="Earliest early pass for the sequential judge.")
    compare: Literal["workloads", "variants"] = Field(
        default="workloads",
        description=(
            "What is judged: the canary workload against the stable one, or (a rollout with a flag) the flag's "
            "variant against its baseline variant, from metrics labelled with the variant served (provider "
            "openfeature)."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> Analyze:
        if duration_seconds(self.min_duration) > duration_seconds(self.max_duration):
            raise ValueError(f"min_duration {self.min_duration!r} is longer than max_duration {self.max_duration!r}")
        return self


class Approve(FrozenModel):
    """Wait for ``progressive approve`` (or ``progressive abort``) before going on."""

    kind: Literal["approve"] = "approve"
    timeout: PositiveDuration = Field(default="1h", description="How long to wait; then the stage fails.")


class Run(FrozenModel):
    """A hook container (smoke test, load test) run as its own Task; its failure fails the stage.

    ``env`` values become Task params passed to the container as environment variables; they may use
    the pipeline's parameters, e.g. ``{"IMAGE": "$(params.image)"}``.
    """

    kind: Literal["run"] = "run"
    name: DnsLabel = Field(description="Hook name; the Task is <rollout>-<name>.")
    image: ImageRef = Field(description="Container image, pinned by tag or digest (repo:tag@sha256:...).")
    command: Items[str] = Field(default=(), description="Entrypoint; empty: the image's.")
    args: Items[str] = Field(default=(), description="Arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment, fed through Task params.")
    timeout: PositiveDuration = Field(default="10m", description="Budget of the stage.")
    service_account: DnsSubdomain | None = Field(
        default=None,
        description="An existing ServiceAccount to run as, with the permissions you grant it; default: "
        "progressive-<rollout>-hooks, which has none and gets no API token.",
    )

    @field_validator("command", "args")
    @classmethod
    def _no_substitution(cls, words: Sequence[str]) -> Sequence[str]:
        for word in words:
            if "$(" in word:
                raise ValueError(f"{word!r} contains '$(': Tekton would splice values into it; pass values through env")
        return words

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if (
                not name
                or not (name[0].isalpha() or name[0] == "_")
                or not all(ch.isalnum() or ch == "_" for ch in name)
            ):
                raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return env


Step = Annotated[SetWeight | SetFlag | Pause | Analyze | Approve | Run, Field(discriminator="kind")]
"""One stage of the rollout."""

register_tags("set-weight", "pause", "analyze", "approve", "run")

"""The workload: the stable and canary Deployments and the images a run rolls out."""

from __future__ import annotations

from pydantic import Field, model_validator

from progressive.model._base import DnsLabel, DnsSubdomain, FrozenModel, Items, PositiveDuration

__all__ = ["Workload"]


class Workload(FrozenModel):
    """Two Deployments in the rollout's namespace: ``stable`` serves today, ``canary`` gets the new image.

    Each run takes the new image(s) as pipeline parameters: ``image`` when ``containers`` is empty (the
    canary has one container), else ``image-<container>`` for each named container.
    """

    stable: DnsSubdomain = Field(description="Deployment serving the stable version.")
    canary: DnsSubdomain = Field(description="Deployment serving the canary version.")
    containers: Items[DnsLabel] = Field(
        default=(), description="Containers whose image each run sets; empty: the canary's only container."
    )
    canary_replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas of the canary while it takes traffic; None: as many as stable.",
    )
    progress_deadline: PositiveDuration = Field(
        default="10m", description="How long a Deployment may take to become available."
    )

    @model_validator(mode="after")
    def _distinct(self) -> Workload:
        if self.stable == self.canary:
            raise ValueError(f"stable and canary are both {self.stable!r}; they must be two Deployments")
        if len(set(self.containers)) != len(self.containers):
            raise ValueError(f"containers: {list(self.containers)!r} names a container twice")
        return self

    def image_params(self) -> dict[str, str]:
        """Pipeline param name -> container name ('' for the only container)."""
        if not self.containers:
            return {"image": ""}
        return {f"image-{container}": container for container in self.containers}

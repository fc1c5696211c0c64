"""The ``Rollout``: everything a platform engineer declares about one progressive release."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from progressive.model._base import DnsLabel, FrozenModel, ImageRef, Items, duration_seconds, format_duration
from progressive.model.analysis import Analysis
from progressive.model.flags import FlagTarget, SetFlag
from progressive.model.plan import MARGIN, Plan, accepted_wait, build_plan
from progressive.model.policy import Notifications, RollbackPolicy, Timeouts, Webhook
from progressive.model.routers import NginxIngress, ReplicaRatio, Router
from progressive.model.steps import Analyze, Run, SetWeight, Step
from progressive.model.workload import Workload
from progressive.naming import DNS_LABEL_MAX, RESOURCE_PREFIX, hook_task, rbac_name

__all__ = ["DEFAULT_STEP_IMAGE", "Rollout"]

DEFAULT_STEP_IMAGE = "ghcr.io/tekton-progressive/progressive:0.1.0"
"""The name `scripts/image build` gives the step image it builds; push it and compile with `--image REF@sha256:...`."""

_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_HOOK_CONTEXT = frozenset({"context.pipelineRun.name", "context.pipelineRun.namespace", "context.pipelineRun.uid"})

ROLLOUT_NAME_MAX = DNS_LABEL_MAX - len(RESOURCE_PREFIX)
"""The longest rollout name whose derived names (``progressive-<name>``) still fit 63 characters."""


class Rollout(FrozenModel):
    """One progressive release of a workload: router, stages, analysis and policies.

    Compiled by ``progressive compile`` into a Pipeline (one task per stage, rollback in ``finally``),
    RBAC for its steps, and an example PipelineRun.
    """

    name: DnsLabel = Field(description="Rollout name: the Pipeline's name and the prefix of derived names.")
    namespace: DnsLabel = Field(description="Namespace of the workload, the routing object and the pipeline.")
    workload: Workload = Field(description="Stable and canary Deployments.")
    router: Router = Field(description="Traffic router that carries the weights.")
    steps: Items[Step] = Field(description="Stages, in order; at least one SetWeight.")
    analysis: Analysis | None = Field(default=None, description="Needed when any step is Analyze.")
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy, description="What rollback does.")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="PipelineRun timeouts.")
    webhooks: Items[Webhook] = Field(default=(), description="HTTP gates, Flagger style.")
    notifications: Notifications | None = Field(default=None, description="Slack / JSON webhook announcements.")
    flag: FlagTarget | None = Field(
        default=None, description="A feature flag (OpenFeature/flagd) that SetFlag steps ramp; rolled back on failure."
    )
    image: ImageRef = Field(default=DEFAULT_STEP_IMAGE, description="Step image: registry/repo:tag[@sha256:digest].")
    allow_weight_decrease: bool = Field(
        default=False,
        description="Let a SetWeight lower the canary weight below the previous one; "
        "off, a lower weight is refused as a likely mistake.",
    )

    @field_validator("name")
    @classmethod
    def _name_fits_prefix(cls, name: str) -> str:
        if len(name) > ROLLOUT_NAME_MAX:
            raise ValueError(
                f"{name!r} has {len(name)} characters; derived names {RESOURCE_PREFIX}<name> need it "
                f"to have at most {ROLLOUT_NAME_MAX}"
            )
        return name

    @model_validator(mode="after")
    def _coherent(self) -> Rollout:
        problems = [
            *self._step_problems(),
            *self._flag_problems(),
            *self._analysis_problems(),
            *self._webhook_problems(),
        ]
        if not problems:
            problems = self._budget_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _flag_problems(self) -> list[str]:
        """SetFlag steps need the flag, go up unless decreases are allowed, and leave time to verify."""
        problems: list[str] = []
        percent, previous = 0, None
        for index, step in enumerate(self.steps):
            if isinstance(step, Analyze) and step.compare == "variants":
                problems += self._variant_analysis_problem(index, percent if previous is not None else None)
            if not isinstance(step, SetFlag):
                continue
            if self.flag is None:
                problems.append(f"steps[{index}]: SetFlag needs the rollout's flag settings")
                continue
            if previous is not None and step.percent < percent and not self.allow_weight_decrease:
                problems.append(
                    f"steps[{index}].percent: {step.percent} is below {percent} set by steps[{previous}]; "
                    "to move users back to the baseline on purpose set allow_weight_decrease=True on the Rollout"
                )
            percent, previous = step.percent, index
            verify = duration_seconds(self.flag.verify_timeout) + MARGIN
            if self.flag.evaluation_url is not None and duration_seconds(step.timeout) < verify:
                problems.append(
                    f"steps[{index}].timeout: {step.timeout!r} is shorter than {format_duration(verify)}, "
                    f"flag.verify_timeout {self.flag.verify_timeout!r} plus a margin"
                )
        if self.flag is not None and previous is None:
            problems.append("flag: is set but no step is a SetFlag")
        return problems

    def _variant_analysis_problem(self, index: int, percent: int | None) -> list[str]:
        """Comparing variants needs the flag and users on both: after a SetFlag strictly between 0 and 100."""
        where = f"steps[{index}].compare: 'variants'"
        if self.flag is None:
            return [f"{where} needs the rollout's flag settings (flag=FlagTarget(...))"]
        if percent is None or not 0 < percent < 100:
            at = "no SetFlag before it" if percent is None else f"the flag is at {percent}% there"
            return [
                f"{where} compares users on {self.flag.variant!r} with users on {self.flag.baseline!r}, so it needs a "
                f"SetFlag between 1 and 99 percent before it ({at})"
            ]
        return []

    def _step_problems(self) -> list[str]:
        problems: list[str] = []
        if not any(isinstance(step, SetWeight) for step in self.steps):
            problems.append("steps: needs at least one SetWeight")
        if isinstance(self.router, ReplicaRatio) and self.workload.canary_replicas:
            problems.append(
                f"workload.canary_replicas: {self.workload.canary_replicas} would send traffic to the canary "
                "before the first SetWeight; the replicas router scales the canary itself, leave it unset"
            )
        weight = 0
        previous: int | None = None
        hooks: dict[str, int] = {}
        wait = accepted_wait(self) + MARGIN
        for index, step in enumerate(self.steps):
            if isinstance(step, SetWeight):
                if previous is not None and step.weight < weight and not self.allow_weight_decrease:
                    problems.append(
                        f"steps[{index}].weight: {step.weight} is below {weight} set by steps[{previous}]; "
                        "to send traffic back to stable on purpose set allow_weight_decrease=True on the Rollout"
                    )
                weight = step.weight
                previous = index
                if duration_seconds(step.timeout) < wait:
                    problems.append(
                        f"steps[{index}].timeout: {step.timeout!r} is shorter than {format_duration(wait)}, what "
                        f"router {self.router.type} may wait for the data plane plus a margin"
                    )
            elif isinstance(step, Analyze):
                if self.analysis is None:
                    problems.append(f"steps[{index}]: Analyze needs the rollout's analysis settings")
                elif weight == 0:
                    problems.append(f"steps[{index}]: Analyze at canary weight 0 has no canary traffic to judge")
            elif isinstance(step, Run):
                problems += self._hook_env_problems(index, step)
                if step.name in hooks:
                    problems.append(f"steps[{index}].name: {step.name!r} is already used by steps[{hooks[step.name]}]")
                hooks[step.name] = index
                if step.service_account == rbac_name(self.name):
                    # The rollout's own account can move traffic, update the Deployments and read approvals:
                    # a hook image (often a third party's) must never hold those powers.
                    problems.append(
                        f"steps[{index}].service_account: {step.service_account!r} is the rollout's own "
                        "ServiceAccount; a hook runs with its own, least-privileged one"
                    )
                task = hook_task(self.name, step.name)
                if len(task) > DNS_LABEL_MAX:
                    problems.append(
                        f"steps[{index}].name: the hook Task name {task!r} has {len(task)} characters, "
                        f"above {DNS_LABEL_MAX}"
                    )
        return problems

    def _hook_env_problems(self, index: int, step: Run) -> list[str]:
        """A hook's env may use the pipeline's image params and run context, nothing else Tekton knows."""
        allowed = {f"params.{param}" for param in self.workload.image_params()} | _HOOK_CONTEXT
        return [
            f"steps[{index}].env.{name}: $({reference}) is not available to a hook; use "
            + ", ".join(f"$({item})" for item in sorted(allowed))
            for name, value in sorted(step.env.items())
            for reference in _REFERENCE.findall(value)
            if reference not in allowed
        ]

    def _analysis_problems(self) -> list[str]:
        """Template variables the chosen query family needs must have a value."""
        analysis = self.analysis
        if analysis is None or analysis.provider != "nginx" or analysis.ingress is not None:
            return []
        if isinstance(self.router, NginxIngress):
            return []  # the router's Ingress is the default
        return [f"analysis.ingress: provider nginx needs the Ingress name, and router {self.router.type} has none"]

    def _webhook_problems(self) -> list[str]:
        problems: list[str] = []
        seen: dict[str, int] = {}
        rollback_hooks = 0
        for index, hook in enumerate(self.webhooks):
            if hook.name in seen:
                problems.append(f"webhooks[{index}].name: {hook.name!r} is already used by webhooks[{seen[hook.name]}]")
            seen[hook.name] = index
            rollback_hooks += hook.type == "rollback"
        if rollback_hooks > 1:
            problems.append("webhooks: at most one webhook of type rollback")
        return problems

    def _budget_problems(self) -> list[str]:
        plan = self.plan()
        problems = [
            f"{stage.source}: stage name {stage.name!r} is longer than {DNS_LABEL_MAX} characters"
            for stage in (*plan.stages, *plan.final)
            if len(stage.name) > DNS_LABEL_MAX
        ]
        available = self.timeouts.tasks_seconds
        if plan.stages_budget > available:
            problems.append(
                f"timeouts.pipeline: the stages need {format_duration(plan.stages_budget)} but "
                f"{self.timeouts.pipeline!r} minus finally {self.timeouts.finally_!r} leaves "
                f"{format_duration(available)}"
            )
        finally_seconds = duration_seconds(self.timeouts.finally_)
        if plan.final_budget > finally_seconds:
            problems.append(
                f"timeouts.finally: rollback needs {format_duration(plan.final_budget)} but finally has "
                f"{self.timeouts.finally_!r}"
            )
        return problems

    def plan(self) -> Plan:
        """The stages this rollout compiles to, with names, weights and time budgets."""
        return build_plan(self)

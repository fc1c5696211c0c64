"""What each stage of a rollout runs: the step command and the value of every param, as strings.

This is the single translation from the model to step command lines. The Pipeline is built from it (one
pipeline task per invocation, its params = these values) and the local runner (``progressive run``)
executes the same invocations directly, so the two cannot drift apart.

Values may hold Tekton variables that only exist at run time: ``$(params.image)`` (the new image),
``$(context.pipelineRun.name)`` (the run id) and, in ``finally``, ``$(tasks.status)``. A runner without
Tekton resolves them with :meth:`StageInvocation.resolve`.

Flags are passed when the rollout decides their value, even if it equals the flag's default, so a
compiled Pipeline does not change meaning when a catalog default changes; flags the rollout has no
opinion on (``--api-timeout``, ``--poll-interval``) are left to the Task's default.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from progressive.compile._catalog import (
    IMAGE_PARAM,
    NOTIFY_DIR,
    NOTIFY_SECRET_PARAM,
    PROMETHEUS_DIR,
    PROMETHEUS_SECRET_PARAM,
    catalog_task_name,
)
from progressive.compile._queries import analysis_queries, template_variables, variant_flags
from progressive.contract import COMMANDS
from progressive.duration import format_duration
from progressive.model import (
    Analyze,
    Approve,
    Pause,
    Prometheus,
    ReplicaRatio,
    Rollout,
    Run,
    SequentialJudge,
    SetWeight,
    Stage,
    ThresholdJudge,
    Webhook,
)
from progressive.model.flags import FeatureFlagSource, SetFlag
from progressive.naming import hook_task

__all__ = [
    "RUN_ID",
    "TASKS_STATUS",
    "StageInvocation",
    "image_flag",
    "judge_flags",
    "prometheus_flags",
    "stage_invocations",
    "template_variables",
]

RUN_ID = "$(context.pipelineRun.name)"
"""The run id every stage passes: the PipelineRun's name."""
TASKS_STATUS = "$(tasks.status)"
"""Aggregate status of the Pipeline's tasks; only ``finally`` tasks may read it."""

_VARIABLE = re.compile(r"\$\(([^()]+)\)")


def _frozen(values: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True)
class StageInvocation:
    """One pipeline task of a rollout: which Task it runs and with which param values."""

    stage: Stage
    """The plan's stage: name, kind, weight, time budget, and where it comes from in the Rollout."""
    task: str
    """Name of the Task the pipeline task references (a catalog Task, or the rollout's hook Task)."""
    command: str | None
    """``progressive step <command>``; ``None`` for a ``Run`` hook, which runs the user's container."""
    flags: Mapping[str, str]
    """Step flag -> value, in the contract's flag order. Empty for a hook."""
    task_params: Mapping[str, str]
    """Task params that are not flags: the step image and Secret names; a hook's environment."""
    final: bool = False
    """Runs in ``finally``, after the stages settle."""
    unless_succeeded: str | None = None
    """The pipeline task whose success skips this one: the rollback runs unless ``promote`` succeeded."""
    hook: Run | None = field(default=None)
    """The ``Run`` step, for a hook."""

    @property
    def name(self) -> str:
        """The pipeline task name."""
        return self.stage.name

    @property
    def timeout(self) -> str:
        """The stage budget as a Tekton duration (whole seconds, rounded up)."""
        return format_duration(self.stage.budget)

    @property
    def params(self) -> dict[str, str]:
        """Every param the pipeline task passes: flags first, then the other Task params."""
        return {**self.flags, **self.task_params}

    def argv(self) -> list[str]:
        """The step's command line, ``progressive step <command> --flag=value ...`` (not for hooks)."""
        if self.command is None:
            raise ValueError(f"stage {self.name!r} is a hook; it runs {self.task!r}, not a step command")
        return ["progressive", "step", self.command, *(f"--{name}={value}" for name, value in self.flags.items())]

    def resolve(self, variables: Mapping[str, str]) -> StageInvocation:
        """A copy with ``$(name)`` references replaced from ``variables`` (keys without ``$( )``).

        E.g. ``{"params.image": "repo/app:2", "context.pipelineRun.name": "shop-x1", "tasks.status": "Failed"}``.
        A reference missing from ``variables`` is an error naming it, so nothing unresolved reaches a step.
        """

        def substitute(value: str) -> str:
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in variables:
                    raise KeyError(f"stage {self.name!r}: no value for $({name})")
                return variables[name]

            return _VARIABLE.sub(one, value)

        return StageInvocation(
            stage=self.stage,
            task=self.task,
            command=self.command,
            flags=_frozen({k: substitute(v) for k, v in self.flags.items()}),
            task_params=_frozen({k: substitute(v) for k, v in self.task_params.items()}),
            final=self.final,
            unless_succeeded=self.unless_succeeded,
            hook=self.hook,
        )


def image_flag(rollout: Rollout) -> str:
    """``deploy --images``: the ``image`` pipeline param, or ``container=$(params.image-container)`` pairs."""
    params = rollout.workload.image_params()
    if list(params.values()) == [""]:
        return f"$(params.{next(iter(params))})"
    return ",".join(f"{container}=$(params.{param})" for param, container in params.items())


def _has_flag(command: str, flag: str) -> bool:
    return any(candidate.name == flag for candidate in COMMANDS[command].flags)


def _number(value: float) -> str:
    """Shortest text that reads back as the same float (``0.05``, ``2.0``)."""
    return repr(float(value))


def prometheus_flags(prometheus: Prometheus) -> dict[str, str]:
    """``analyze``'s flags saying where Prometheus is, and its Secret's files (mounted at ``PROMETHEUS_DIR``)."""
    flags = {"prometheus-url": prometheus.url}
    if prometheus.secret is not None:  # only the keys the user says the Secret holds: a missing file is an error
        if prometheus.token_key is not None:
            flags["prometheus-token-file"] = f"{PROMETHEUS_DIR}/{prometheus.token_key}"
        if prometheus.ca_key is not None:
            flags["prometheus-ca-file"] = f"{PROMETHEUS_DIR}/{prometheus.ca_key}"
    flags["query-timeout"] = prometheus.query_timeout
    return flags


def judge_flags(judge: SequentialJudge | ThresholdJudge, step: Analyze) -> dict[str, str]:
    """``analyze``'s flags of the judge and the stage's durations."""
    if isinstance(judge, SequentialJudge):
        threshold = judge.latency_threshold
        return {
            "interval": judge.interval,
            "min-duration": step.min_duration,
            "max-duration": step.max_duration,
            "alpha": _number(judge.alpha),
            "beta": _number(judge.beta),
            "rho1-errors": _number(judge.rho1_errors),
            "rho1-slow": _number(judge.rho1_slow),
            "latency-threshold": "" if threshold is None else threshold if threshold == "auto" else _number(threshold),
            "on-inconclusive": judge.on_inconclusive,
        }
    checks = [check.model_dump(mode="json", exclude_none=True) for check in judge.checks]
    return {"on-no-data": judge.on_no_data, "checks": json.dumps(checks, separators=(",", ":"))}


class _Builder:
    """Builds the invocations of one rollout; holds what every stage shares."""

    def __init__(self, rollout: Rollout, promote_stage: str) -> None:
        self.rollout = rollout
        self.promote_stage = promote_stage
        self.router_flags = rollout.router.step_flags(rollout.workload)
        rollback_hooks = [hook.url for hook in rollout.webhooks if hook.type == "rollback"]
        self.rollback_webhook = rollback_hooks[0] if rollback_hooks else None
        self.queries = analysis_queries(rollout)  # a query that cannot render is a compile error, here

    def common(self, stage: Stage) -> dict[str, str]:
        flags = {
            "namespace": self.rollout.namespace,
            "rollout": self.rollout.name,
            "run-id": RUN_ID,
            "stage": stage.name,
        }
        if self.rollout.notifications is not None:
            flags["notify-dir"] = NOTIFY_DIR
        return flags

    def task_params(self, command: str) -> dict[str, str]:
        params = {IMAGE_PARAM: self.rollout.image}
        if self.rollout.notifications is not None:
            params[NOTIFY_SECRET_PARAM] = self.rollout.notifications.secret
        analysis = self.rollout.analysis
        if command in {"analyze", "deploy"} and analysis is not None and analysis.prometheus.secret is not None:
            params[PROMETHEUS_SECRET_PARAM] = analysis.prometheus.secret
        return params

    def deployments(self) -> dict[str, str]:
        workload = self.rollout.workload
        return {"stable-deployment": workload.stable, "canary-deployment": workload.canary}

    def flags(self, stage: Stage) -> dict[str, str]:
        """Flag values by stage kind (``common`` flags included)."""
        workload = self.rollout.workload
        flags = self.common(stage)
        step = stage.step
        kind = stage.kind
        if kind == "webhook":
            assert isinstance(step, Webhook)
            flags |= {
                "type": step.type,
                "url": step.url,
                "timeout": step.timeout,
                "retries": str(step.retries),
                "gate-timeout": step.gate_timeout,
                "metadata": json.dumps(step.metadata, sort_keys=True, separators=(",", ":")),
            }
        elif kind == "deploy":
            flags |= self.deployments()
            flags["images"] = image_flag(self.rollout)
            if isinstance(self.rollout.router, ReplicaRatio):
                flags["replicas"] = "0"  # every canary replica takes traffic: SetWeight scales it up
            elif workload.canary_replicas is not None:
                flags["replicas"] = str(workload.canary_replicas)
            flags["progress-deadline"] = workload.progress_deadline
            flags |= self.router_flags | self.preflight()
        elif kind == "set-weight":
            assert isinstance(step, SetWeight)
            flags |= self.router_flags
            flags |= {"weight": str(step.weight), "canary-deployment": workload.canary}
        elif kind == "flag-set":
            flags |= self.flag_set(step)
        elif kind == "analyze":
            assert isinstance(step, Analyze)
            flags |= self.analyze(step)
        elif kind == "pause":
            assert isinstance(step, Pause)
            flags["duration"] = step.duration
            if self.rollback_webhook is not None:
                flags["rollback-webhook"] = self.rollback_webhook
        elif kind == "approve":
            assert isinstance(step, Approve)
            flags["timeout"] = step.timeout
        elif kind == "promote":
            flags |= self.router_flags | self.deployments()
            flags["progress-deadline"] = workload.progress_deadline
        elif kind == "rollback":
            policy = self.rollout.rollback
            flags |= self.router_flags | self.deployments()
            flags |= {
                "mode": policy.mode,
                "step-weight": str(policy.step_weight),
                "step-interval": policy.step_interval,
                "progress-deadline": workload.progress_deadline,
            }
        elif kind == "report":
            flags["status"] = TASKS_STATUS
            flags |= self.router_flags
        else:
            raise AssertionError(f"stage {stage.name!r} has kind {kind!r}, which has no step command")
        if "canary-deployment" not in flags and _has_flag(kind, "canary-deployment"):
            flags["canary-deployment"] = workload.canary  # where the step records its Kubernetes Events
        return flags

    def flag_set(self, step: object) -> dict[str, str]:
        """A SetFlag stage's split, or (no step: the ``finally`` flag rollback) everyone on the baseline."""
        target = self.rollout.flag
        assert target is not None  # the Rollout refuses SetFlag steps without flag settings
        percent = step.percent if isinstance(step, SetFlag) else 0
        source = target.source
        flags = {"source": source.kind, "name": source.name}
        if not isinstance(source, FeatureFlagSource):
            flags["configmap-key"] = source.key
        flags |= {"flag": target.key, "split": target.split(percent), "baseline": target.baseline}
        if target.evaluation_url is not None:
            flags |= {"evaluation-url": target.evaluation_url, "verify-timeout": target.verify_timeout}
        return flags

    def prometheus(self) -> dict[str, str]:
        """Where Prometheus is and its Secret's files, for analyze and deploy's preflight."""
        analysis = self.rollout.analysis
        assert analysis is not None
        return prometheus_flags(analysis.prometheus)

    def preflight(self) -> dict[str, str]:
        """Deploy's preflight of Prometheus: only when the rollout analyses the canary."""
        if self.rollout.analysis is None or not any(stage.kind == "analyze" for stage in self.rollout.plan().stages):
            return {}
        unique = {query.promql: query for query in reversed(self.queries)}  # a query probed twice is checked once
        queries = [query.to_json() for query in self.queries if unique[query.promql] is query]
        return self.prometheus() | {"queries": json.dumps(queries, separators=(",", ":"))}

    def analyze(self, step: Analyze) -> dict[str, str]:
        analysis = self.rollout.analysis
        assert analysis is not None  # the Rollout refuses Analyze steps without analysis settings
        flags = self.prometheus()
        flags |= {
            "provider": analysis.provider,
            "judge": analysis.judge.type,
            "canary-workload": self.rollout.workload.canary,
            "stable-workload": self.rollout.workload.stable,
        }
        flags |= template_variables(self.rollout, analysis)
        if step.compare == "variants":
            flags |= variant_flags(self.rollout)
        flags |= judge_flags(analysis.judge, step)
        if self.rollback_webhook is not None:
            flags["rollback-webhook"] = self.rollback_webhook
        return flags

    def invocation(self, stage: Stage, *, final: bool) -> StageInvocation:
        if stage.kind == "run":
            assert isinstance(stage.step, Run)
            return StageInvocation(
                stage=stage,
                task=hook_task(self.rollout.name, stage.step.name),
                command=None,
                flags=_frozen({}),
                task_params=_frozen(dict(sorted(stage.step.env.items()))),
                final=final,
                hook=stage.step,
            )
        command = COMMANDS[stage.kind]
        values = self.flags(stage)
        # Contract order, and a flag the contract lacks is a compiler bug caught here, not on a cluster.
        ordered = {flag.name: values.pop(flag.name) for flag in command.flags if flag.name in values}
        if values:
            raise AssertionError(f"step {command.name} has no flags {sorted(values)}")
        return StageInvocation(
            stage=stage,
            task=catalog_task_name(command.name),
            command=command.name,
            flags=_frozen(ordered),
            task_params=_frozen(self.task_params(command.name)),
            final=final,
            unless_succeeded=self.promote_stage
            if stage.kind == "rollback" or (final and stage.kind == "flag-set")
            else None,
        )


def stage_invocations(rollout: Rollout) -> list[StageInvocation]:
    """Every pipeline task of the rollout, stages in order and then the ``finally`` tasks."""
    plan = rollout.plan()
    builder = _Builder(rollout, next(stage.name for stage in plan.stages if stage.kind == "promote"))
    return [builder.invocation(stage, final=False) for stage in plan.stages] + [
        builder.invocation(stage, final=True) for stage in plan.final
    ]

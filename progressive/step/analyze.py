"""``progressive step analyze``: judge the canary from Prometheus -- pass, fail or inconclusive.

What it does, in order:

1. Checks every flag and renders every query before talking to anyone: a template variable that is not
   set (``--ingress`` for NGINX, ``--canary-cluster`` for Envoy Gateway), a malformed check or an
   unknown query variable is exit 2, naming the flag or field and the value.
2. Reachability: evaluates ``vector(1)`` through the same client (auth, TLS, retries); Prometheus
   unreachable or refusing the credentials is exit 5 before the stage starts.
3. Reads the state record (``for_run``: a new run starts fresh), stops at once if the run was aborted
   (exit 7), and records ``phase = analyzing`` for the stage.
4. Polls every ``--interval``, first asking the ``--rollback-webhook`` (a 2xx answer fails the stage:
   exit 1, "rollback webhook") and reading the abort flag, then:

   * **sequential judge** (default): reads the raw request, error and latency-bucket counters of canary
     and stable at one instant, differences them against the previous poll (the cursor lives in the
     state record, so nothing is lost between polls, failed polls or stages -- see
     :mod:`progressive.metrics.counters`), feeds the judge, persists the evidence and prints one JSON
     line (counts, e-values, decision). The slow-request bucket ``L`` is fixed by the run's first
     analysis (``--latency-threshold``: ``auto``, seconds, or empty for errors only) and kept in the
     record. Prometheus failures are retried inside each poll; after
     :data:`SEQUENTIAL_ERROR_LIMIT` failed polls in a row the step gives up with exit 5.
   * **threshold judge**: measures each check every ``interval`` (after ``initial_delay``, ``count``
     times), in Flagger's units, with Argo's bookkeeping (:mod:`progressive.judge.threshold`).

5. Ends with the Tekton results ``verdict`` and ``summary`` (< 1 KB), the verdict in the state record,
   an Event, and the exit code: 0 pass, 1 fail, 4 inconclusive (``--on-inconclusive=hold``, or no
   data with ``--on-no-data`` ``inconclusive``/``wait``), 5 Prometheus kept failing, 2 a bad query.
   An inconclusive stage that ``--on-inconclusive=advance`` lets go on exits 0 but says ``inconclusive``
   everywhere (result, record, Event ``AnalysisInconclusive``), never ``pass``.

A stage whose canary (or baseline) served no request at all never passes on the sequential judge's
``--on-inconclusive=advance``: that is "no data", and ``--on-no-data`` decides (fail, or inconclusive).

Secrets: the bearer token is read from ``--prometheus-token-file`` and only ever sent in the
``Authorization`` header; every message from the client is redacted; nothing here prints flags.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from progressive.duration import format_duration, parse_duration
from progressive.errors import CanaryFailed, Inconclusive, InfrastructureError, StepError, UsageError
from progressive.http_post import host_of
from progressive.judge import sequential, threshold
from progressive.judge.sequential import describe_metric
from progressive.judge.verdict import Decision
from progressive.kube.client import Kube
from progressive.kube.state_store import StateStore
from progressive.metrics.counters import Cursor
from progressive.metrics.errors import (
    BadQueryError,
    MetricsError,
    NoDataError,
    QueryError,
    TemplateError,
)
from progressive.metrics.prometheus import PrometheusClient, PrometheusSettings
from progressive.metrics.providers import Role
from progressive.metrics.queries import FLAG_VARIABLES, check_query, sequential_queries, variables_from_flags
from progressive.metrics.sampler import Counts, CountSampler, LatencyChoice, bucket_labels, resolve_latency
from progressive.metrics.templates import builtin, promql_duration, render
from progressive.state import State
from progressive.step.announce import announce, record_failure
from progressive.step.invocation import Invocation, emit
from progressive.step.session import step_kube, step_store
from progressive.step.waiting import stop_if_aborted
from progressive.webhooks import GateRequest, rollback_requested

__all__ = ["EVIDENCE_KEYS", "ROLLBACK_POLL_TIMEOUT", "SEQUENTIAL_ERROR_LIMIT", "run"]

SEQUENTIAL_ERROR_LIMIT = 4
"""Failed polls in a row the sequential judge tolerates (Argo's ``consecutiveErrorLimit`` default); the
next one ends the stage with exit 5. Each poll already retries transient failures itself."""

ROLLBACK_POLL_TIMEOUT = 10.0
"""Seconds one ask of the rollback webhook may take (Flagger's default webhook timeout)."""

EVIDENCE_KEYS = ("sequential", "counters", "latency", "threshold", "now")
"""Keys of ``State.evidence`` this step writes: the judge's evidence, the counter cursor, the run's
slow-request bucket, the threshold judge's per-check counts of the current stage, and ``now``: the sequential
judge's latest evidence per metric in plain words, which ``progressive status`` shows while a stage runs. A
comparison of a flag's variants keeps its own ``sequential``, ``counters`` and ``latency`` under ``flag <key>``."""

Verdict = Literal["pass", "fail", "inconclusive"]


@dataclass(frozen=True)
class _Context:
    """Everything a judge loop needs, built once from the flags."""

    invocation: Invocation
    client: PrometheusClient
    kube: Kube
    store: StateStore
    provider: str
    variables: dict[str, str | None]
    run_id: str
    stage: str
    interval: float
    what: str
    started: float = field(default_factory=time.monotonic)

    def dwell(self) -> float:
        """Seconds since this stage's analysis started."""
        return time.monotonic() - self.started

    def emit(self, **fields: object) -> None:
        """One JSON line of this command."""
        emit({"action": "analyze", "stage": self.stage, **fields})

    def save(self, change: Callable[[State], State]) -> State:
        """Apply ``change`` to this run's record; stop (exit 7) if the run was aborted meanwhile."""

        def apply(current: State) -> State:
            return change(current.for_run(self.run_id))

        stored = self.store.update(apply)
        stop_if_aborted(self.invocation, self.kube, stored, self.what)
        return stored

    def refresh(self) -> State:
        """Re-read this run's record; stop (exit 7) if the run was aborted."""
        state = self.store.read().for_run(self.run_id)
        stop_if_aborted(self.invocation, self.kube, state, self.what)
        return state

    def ask_rollback_webhook(self, state: State) -> None:
        """Flagger's ``rollback`` hook: a 2xx answer fails the stage now (exit 1)."""
        url = self.invocation.text("rollback-webhook")
        if not url:
            return
        request = GateRequest.from_invocation(self.invocation, "rollback", canary_weight=state.canary_weight)
        if rollback_requested(url, min(ROLLBACK_POLL_TIMEOUT, max(self.interval, 1.0)), request):
            message = f"{self.what}: rollback webhook ({host_of(url)}) answered 2xx: roll back now"
            self.invocation.write_result("verdict", "fail")
            self.invocation.write_result("summary", _cut(f"fail: {message}"))
            self.save(
                lambda s: s.evolve(verdict="fail", verdict_stage=self.stage, summary=_cut(message), phase="failed")
            )
            announce(self.invocation, self.kube, "RollbackRequested", message, warning=True, stage=self.stage)
            raise CanaryFailed(message)

    def sleep_until(self, due: float) -> None:
        """Sleep until ``time.monotonic()`` reaches ``due``."""
        left = due - time.monotonic()
        if left > 0:
            time.sleep(left)


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict
    summary: str
    decision: Decision | None = None
    reason: str = ""
    advance: bool = False
    """``inconclusive`` and ``--on-inconclusive=advance``: the stage goes on (exit 0), reported as inconclusive."""


# --- flags -------------------------------------------------------------------------------------------------


def _variables(invocation: Invocation) -> dict[str, str | None]:
    return variables_from_flags({flag: invocation.text(flag) for flag in {"namespace", *FLAG_VARIABLES.values()}})


def _check_sequential_queries(provider: str, variables: Mapping[str, str | None], latency: bool) -> None:
    """Render every query the sequential judge will run, so a missing variable fails before the stage."""
    try:
        sequential_queries(provider, variables, latency=latency, auto=False, where="--provider")
    except TemplateError as exc:
        raise UsageError(f"--provider={provider}: {exc}") from None


@dataclass(frozen=True)
class _Check:
    spec: threshold.CheckSpec
    template: str
    """Query text with placeholders (built-in or the user's)."""
    le_seconds: float | None


def _checks(invocation: Invocation, provider: str, variables: Mapping[str, str | None]) -> list[_Check]:
    """The threshold judge's checks from ``--checks``, validated like the model validates them."""
    from progressive.model import ModelError, ThresholdCheck  # noqa: PLC0415 - only this judge needs the model

    raw = invocation.json("checks")
    if not isinstance(raw, list):
        raise UsageError(f"--checks: expected a JSON list of checks, got {type(raw).__name__}")
    if not raw:
        raise UsageError("--checks: --judge=threshold needs at least one check")
    on_no_data = invocation.text("on-no-data")
    checks: list[_Check] = []
    for index, item in enumerate(raw):
        try:
            model = ThresholdCheck.model_validate(item)
        except ModelError as exc:
            raise UsageError(f"--checks[{index}]: " + "; ".join(exc.lines)) from None
        if any(check.spec.name == model.name for check in checks):
            raise UsageError(f"--checks[{index}].name: {model.name!r} is used twice")
        try:
            spec = threshold.CheckSpec(
                name=model.name,
                min=model.min,
                max=model.max,
                count=model.count,
                failure_limit=model.failure_limit,
                inconclusive_limit=model.inconclusive_limit,
                consecutive_error_limit=model.consecutive_error_limit,
                on_no_data=on_no_data,  # type: ignore[arg-type]  # checked by the CLI (choices)
                interval=parse_duration(model.interval),
                initial_delay=parse_duration(model.initial_delay),
            )
        except ValueError as exc:
            raise UsageError(f"--checks[{index}]: {exc}") from None
        template = builtin(provider, model.metric).text if model.metric is not None else str(model.query)
        where = f"--checks[{index}] ({model.name})"
        try:
            check_query(
                provider, variables, metric=model.metric, query=model.query, interval=spec.interval, where=where
            )
        except TemplateError as exc:
            raise UsageError(str(exc)) from None
        checks.append(_Check(spec=spec, template=template, le_seconds=model.le))
    return checks


def _sequential_settings(invocation: Invocation, latency: bool) -> sequential.SequentialSettings:
    rho1 = {"errors": invocation.number("rho1-errors")}
    if latency:
        rho1["slow"] = invocation.number("rho1-slow")
    try:
        return sequential.SequentialSettings(
            alpha=invocation.number("alpha"),
            beta=invocation.number("beta"),
            rho1=rho1,
            min_dwell=invocation.seconds("min-duration"),
            max_dwell=invocation.seconds("max-duration"),
            on_inconclusive=invocation.text("on-inconclusive"),  # type: ignore[arg-type]  # CLI choices
        )
    except ValueError as exc:
        raise UsageError(f"{exc} (flags --alpha, --beta, --rho1-*, --min-duration, --max-duration)") from None


# --- the command ---------------------------------------------------------------------------------------------


def run(invocation: Invocation) -> int:
    """Judge the stage; see the module docstring."""
    provider = invocation.text("provider")
    judge = invocation.text("judge")
    interval = invocation.seconds("interval")
    if interval <= 0:
        raise UsageError(f"--interval: {format_duration(interval)} is not a positive duration")
    variables = _variables(invocation)
    if variables["canary"] == variables["stable"]:
        raise UsageError(f"--canary-workload and --stable-workload are both {variables['canary']!r}; they must differ")
    if variables["canary_cluster"] and variables["canary_cluster"] == variables["stable_cluster"]:
        raise UsageError(f"--canary-cluster and --stable-cluster are both {variables['canary_cluster']!r}")
    requested_latency = invocation.text("latency-threshold").strip()
    checks: list[_Check] = []
    if judge == "threshold":
        checks = _checks(invocation, provider, variables)
    else:
        if invocation.json("checks") not in (None, []):
            emit({"action": "analyze", "warning": "--checks is only used by --judge=threshold; ignored"})
        _check_sequential_queries(provider, variables, latency=bool(requested_latency))
        _sequential_settings(invocation, latency=bool(requested_latency))  # flag errors before anything runs

    client = PrometheusClient(
        PrometheusSettings(
            url=invocation.text("prometheus-url"),
            token_file=invocation.text("prometheus-token-file"),
            ca_file=invocation.text("prometheus-ca-file"),
            timeout=invocation.seconds("query-timeout"),
        )
    )
    namespace, rollout = invocation.text("namespace"), invocation.text("rollout")
    stage = invocation.text("stage")
    kube = step_kube()
    store = step_store(kube, namespace, rollout, api_timeout=invocation.seconds("api-timeout"))
    context = _Context(
        invocation=invocation,
        client=client,
        kube=kube,
        store=store,
        provider=provider,
        variables=variables,
        run_id=invocation.text("run-id"),
        stage=stage,
        interval=interval,
        what=f"stage {stage!r} of rollout {namespace}/{rollout}",
    )
    try:
        client.check_ready()
        context.emit(judge=judge, provider=provider, prometheus=client.url, ready=True)
        context.refresh()  # an aborted run stops here, before anything is written
        state = context.save(lambda s: s.evolve(phase="analyzing", stage=stage))
        if judge == "threshold":
            outcome = _run_threshold(context, checks, state)
        else:
            outcome = _run_sequential(context, state, requested_latency)
    except MetricsError as exc:
        _fail_infrastructure(context, exc)
    finally:
        client.close()
    return _finish(context, outcome)


def _fail_infrastructure(context: _Context, exc: MetricsError) -> NoReturn:
    """Prometheus kept failing or rejected a query: record it, then exit 5 (or 2 for a bad query)."""
    message = f"{context.what}: {exc}"
    error: StepError
    if (isinstance(exc, QueryError) and exc.exit_code == UsageError.exit_code) or isinstance(exc, TemplateError):
        error = UsageError(message)
    else:
        error = InfrastructureError(message)
    try:
        context.store.update(
            lambda s: s.for_run(context.run_id).evolve(
                verdict="error", verdict_stage=context.stage, summary=_cut(message)
            )
        )
    except StepError as store_error:
        context.emit(warning=f"could not record the error in the state record: {store_error}")
    record_failure(context.invocation, context.kube, "AnalysisError", _cut(message))
    raise error from None


def _finish(context: _Context, outcome: _Outcome) -> int:
    summary = _cut(outcome.summary)
    context.invocation.write_result("verdict", outcome.verdict)
    context.invocation.write_result("summary", summary)
    goes_on = outcome.verdict == "pass" or outcome.advance
    phase = "progressing" if goes_on else "failed"
    context.save(
        lambda s: s.evolve(verdict=outcome.verdict, verdict_stage=context.stage, summary=summary, phase=phase).mark(
            "verdict", context.stage, verdict=outcome.verdict, summary=summary
        )
    )
    reason = {"pass": "AnalysisPassed", "fail": "AnalysisFailed", "inconclusive": "AnalysisInconclusive"}
    announce(
        context.invocation,
        context.kube,
        reason[outcome.verdict],
        f"{context.what}: {summary}",
        warning=outcome.verdict != "pass",
        stage=context.stage,
        verdict=outcome.verdict,
        summary=summary,
    )
    if goes_on:
        return 0
    if outcome.verdict == "fail":
        raise CanaryFailed(f"{context.what}: {summary}")
    raise Inconclusive(f"{context.what}: {summary}")


def _cut(text: str, limit: int = 1000) -> str:
    """One line of at most ``limit`` UTF-8 bytes (the ``summary`` result must stay under 1 KB)."""
    line = " ".join(text.split())
    encoded = line.encode()
    if len(encoded) <= limit:
        return line
    return encoded[: limit - 3].decode(errors="ignore") + "..."


def _no_data_outcome(context: _Context, why: str) -> _Outcome:
    policy = context.invocation.text("on-no-data")
    if policy == "fail":
        return _Outcome("fail", f"fail: no data: {why} (on-no-data=fail)", reason="no data")
    return _Outcome("inconclusive", f"inconclusive: no data: {why} (on-no-data={policy})", reason="no data")


# --- sequential judge ----------------------------------------------------------------------------------------


def _latency(context: _Context, record: Mapping[str, Any], requested: str) -> LatencyChoice | None:
    """The run's slow-request bucket: from the record if a previous stage fixed it, else from the flag."""
    if "latency" in record:
        stored = record["latency"]
        try:
            choice = LatencyChoice.from_dict(stored) if stored is not None else None
        except (ValueError, AttributeError) as exc:
            raise UsageError(f"state record of {context.what}: {exc}") from None
        if requested and requested != "auto" and (choice is None or not math.isclose(float(requested), choice.seconds)):
            context.emit(
                warning=f"--latency-threshold={requested} ignored: this run's analysis uses {_latency_text(choice)}"
            )
        elif not requested and choice is not None:
            context.emit(warning=f"--latency-threshold is empty, but this run's analysis uses {_latency_text(choice)}")
        return choice
    try:
        return resolve_latency(context.client, context.provider, context.variables, requested, at=time.time())
    except ValueError as exc:
        raise UsageError(f"--latency-threshold: {exc}") from None


def _latency_text(choice: LatencyChoice | None) -> str:
    return "errors only" if choice is None else f"slow = above {choice.seconds:g}s ({choice.chosen_by})"


def _load_evidence(
    context: _Context, settings: sequential.SequentialSettings, record: Mapping[str, Any]
) -> tuple[sequential.Evidence, Cursor | None]:
    try:
        evidence = (
            sequential.Evidence.from_dict(record["sequential"])
            if "sequential" in record
            else sequential.Evidence.empty(settings)
        )
        cursor = Cursor.from_dict(record["counters"]) if "counters" in record else None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"state record of {context.what}: evidence is unreadable ({exc})") from None
    try:
        sequential.decide(settings, evidence, dwell=0.0, explain=False)
    except ValueError as exc:
        raise UsageError(f"{exc} (a run keeps its --rho1-* and latency settings from its first analysis)") from None
    return evidence, cursor


def _run_sequential(context: _Context, state: State, requested_latency: str) -> _Outcome:
    scope = _scope(context.invocation)
    record = dict(state.evidence.get(scope) or {}) if scope else dict(state.evidence)
    choice = _latency(context, record, requested_latency)
    settings = _sequential_settings(context.invocation, latency=choice is not None)
    evidence, cursor = _load_evidence(context, settings, record)
    le: dict[Role, str] | None = None
    if choice is not None:
        _check_sequential_queries(context.provider, context.variables, latency=True)
        le, warnings = bucket_labels(
            context.client, context.provider, context.variables, choice.seconds, at=time.time()
        )
        for warning in warnings:
            context.emit(warning=warning)
    try:
        sampler = CountSampler(context.client, context.provider, context.variables, le=le)
    except TemplateError as exc:
        raise UsageError(f"--provider={context.provider}: {exc}") from None
    context.emit(
        latency_threshold=None if choice is None else choice.to_dict(),
        le=le,
        settings={
            "alpha": settings.alpha,
            "beta": settings.beta,
            "rho1": dict(settings.rho1),
            "min_dwell": settings.min_dwell,
            "max_dwell": settings.max_dwell,
            "on_inconclusive": settings.on_inconclusive,
        },
        queries=sampler.queries,
    )
    base = {"latency": None if choice is None else choice.to_dict()}
    stage_traffic = {"canary": 0.0, "baseline": 0.0}
    failures = 0
    poll = 0
    due = time.monotonic()
    while True:
        context.sleep_until(due)
        due = max(due + context.interval, time.monotonic())
        poll += 1
        context.ask_rollback_webhook(state)
        try:
            counts, cursor_after = sampler.sample(cursor, at=time.time())
        except BadQueryError:
            raise
        except QueryError as exc:
            failures += 1
            context.emit(poll=poll, dwell=round(context.dwell(), 3), error=str(exc), failed_polls=failures)
            if failures > SEQUENTIAL_ERROR_LIMIT:
                raise
            state = context.refresh()
            continue
        failures = 0
        if counts is not None:
            evidence = sequential.observe(settings, evidence, _polls(counts))
            stage_traffic["canary"] += counts["errors"].canary_total
            stage_traffic["baseline"] += counts["errors"].baseline_total
        cursor = cursor_after
        decision = sequential.decide(settings, evidence, dwell=context.dwell())
        snapshot: dict[str, Any] = {**base, "sequential": evidence.to_dict(), "counters": cursor.to_dict()}
        if scope:
            snapshot = {scope: snapshot}
        snapshot["now"] = {
            "stage": context.stage,
            "dwell": round(decision.dwell, 3),
            "metrics": [describe_metric(report, settings.threshold) for report in decision.metrics],
        }
        # The judge's "pass" at the budget with --on-inconclusive=advance means "go on", not "healthy".
        passed_without_evidence = decision.verdict == "pass" and not all(r.healthy for r in decision.metrics)
        shown = "inconclusive" if passed_without_evidence else decision.verdict
        state = context.save(_merge_evidence(snapshot, _poll_mark(context.stage, decision, counts, shown)))
        context.emit(
            poll=poll,
            dwell=round(decision.dwell, 3),
            counts=None if counts is None else {name: c.to_dict() for name, c in counts.items()},
            e_values={report.name: _round(report.e_value) for report in decision.metrics},
            verdict=shown,
            decision={**decision.to_dict(), "verdict": shown},
        )
        if not decision.terminal:
            continue
        if passed_without_evidence and (stage_traffic["canary"] <= 0 or stage_traffic["baseline"] <= 0):
            quiet = "canary" if stage_traffic["canary"] <= 0 else "baseline"
            why = f"the {quiet} served no request during the stage's {format_duration(decision.dwell)}"
            return _no_data_outcome(context, why)
        if passed_without_evidence:
            # The budget ran out and --on-inconclusive=advance lets the stage go on: that is not a pass.
            summary = "inconclusive: " + decision.summary().split(": ", 1)[1]
            return _Outcome("inconclusive", summary, decision, advance=True)
        return _Outcome(decision.verdict, decision.summary(), decision)  # type: ignore[arg-type]


def _scope(invocation: Invocation) -> str:
    """Where a comparison keeps its evidence in ``State.evidence``: at the top, or ``flag <key>`` for variants.

    Evidence accumulates over a run's stages, but only for the same two groups of users.
    """
    key = invocation.text("flag-key")
    return f"flag {key}" if key else ""


def _merge_evidence(snapshot: Mapping[str, Any], mark: Mapping[str, Any]) -> Callable[[State], State]:
    """A state change that replaces this step's keys of ``State.evidence``, keeping any others, and marks the poll."""

    def change(state: State) -> State:
        return state.evolve(evidence={**state.evidence, **snapshot}).mark("poll", **mark)

    return change


def _poll_mark(stage: str, decision: Decision, counts: Mapping[str, Counts] | None, verdict: str) -> dict[str, Any]:
    """The timeline entry of one sequential poll: this poll's counts, the evidence so far, the verdict."""
    return {
        "stage": stage,
        "dwell": round(decision.dwell, 3),
        "verdict": verdict,
        "threshold": decision.threshold,
        "e": {report.name: _round(report.max_e_value) for report in decision.metrics},
        "counts": None
        if counts is None
        else {
            name: [_round(c.canary_bad), _round(c.canary_total), _round(c.baseline_bad), _round(c.baseline_total)]
            for name, c in counts.items()
        },
    }


def _polls(counts: Mapping[str, Counts]) -> dict[str, sequential.Poll]:
    return {
        name: sequential.Poll(
            canary_total=c.canary_total,
            canary_bad=c.canary_bad,
            baseline_total=c.baseline_total,
            baseline_bad=c.baseline_bad,
        )
        for name, c in counts.items()
    }


def _round(value: float) -> float | None:
    return float(f"{value:.6g}") if math.isfinite(value) else None


# --- threshold judge -----------------------------------------------------------------------------------------


def _measure(context: _Context, check: _Check, le: str | None) -> tuple[threshold.Measurement, QueryError | None]:
    """One measurement of ``check``; a query error comes back with the exception (for the exit code)."""
    variables = {**context.variables, "interval": promql_duration(check.spec.interval), "le": le}
    query = render(check.template, variables, where=check.spec.name)
    try:
        return context.client.value(query), None
    except NoDataError as exc:
        return threshold.NoData(exc.reason), None
    except BadQueryError:
        raise
    except QueryError as exc:
        return threshold.QueryError(str(exc)), exc


def _check_le(context: _Context, check: _Check) -> str | None:
    """How the canary's histogram spells a slow-request-share check's ``le``; None while it has no series."""
    assert check.le_seconds is not None
    labels, warnings = bucket_labels(
        context.client, context.provider, context.variables, check.le_seconds, at=time.time()
    )
    for warning in warnings:
        if warning.startswith("the canary"):
            raise UsageError(f"--checks ({check.spec.name}).le: {warning}")
    canary_has_histogram = builtin(context.provider, "canary-buckets").render(context.variables)
    return labels["canary"] if context.client.query(canary_has_histogram) else None


def _run_threshold(context: _Context, checks: list[_Check], state: State) -> _Outcome:
    specs = [check.spec for check in checks]
    budget = max(context.invocation.seconds("max-duration"), *(spec.nominal_duration + spec.interval for spec in specs))
    states = {spec.name: threshold.CheckState() for spec in specs}
    due = {spec.name: context.started + spec.initial_delay for spec in specs}
    last_error: dict[str, QueryError] = {}
    le_labels: dict[str, str] = {}
    context.emit(
        checks={check.spec.name: check.template for check in checks},
        budget=format_duration(budget),
        on_no_data=context.invocation.text("on-no-data"),
    )
    while True:
        running = [c for c in checks if threshold.phase(c.spec, states[c.spec.name]) == "running"]
        next_due = min(due[c.spec.name] for c in running) if running else time.monotonic()
        context.sleep_until(min(next_due, context.started + budget))
        context.ask_rollback_webhook(state)
        now = time.monotonic()
        for check in running:
            name = check.spec.name
            if due[name] > now:
                continue
            if check.le_seconds is not None and name not in le_labels:
                found = _check_le(context, check)
                if found is not None:
                    le_labels[name] = found
            error: QueryError | None = None
            if check.le_seconds is not None and name not in le_labels:
                measurement: threshold.Measurement = threshold.NoData("the canary has no latency histogram yet")
            else:
                measurement, error = _measure(context, check, le_labels.get(name))
            if error is not None:
                last_error[name] = error
            states[name] = threshold.record(check.spec, states[name], measurement)
            due[name] = time.monotonic() + threshold.next_delay(check.spec, states[name])
            context.emit(
                check=name,
                dwell=round(context.dwell(), 3),
                value=measurement if isinstance(measurement, float) else None,
                outcome=states[name].last_outcome,
                reason=states[name].last_reason,
            )
        dwell = context.dwell()
        decision = threshold.decide(specs, states, dwell=dwell, out_of_time=dwell >= budget)
        snapshot = {"threshold": {"stage": context.stage, "checks": {n: s.to_dict() for n, s in states.items()}}}
        mark = {
            "stage": context.stage,
            "dwell": round(dwell, 3),
            "verdict": decision.verdict,
            "checks": {
                r.name: {"value": None if r.last_value is None else _round(r.last_value), "phase": r.phase}
                for r in decision.checks
            },
        }
        state = context.save(_merge_evidence(snapshot, mark))
        if not decision.terminal:
            continue
        errored = [r for r in decision.checks if r.phase == "error"]
        if errored and all(r.phase != "failed" for r in decision.checks):
            name = errored[0].name
            cause = last_error.get(name)
            gave_up = _QueryGaveUp(f"check {name}: {decision.reason}; last error: {cause}")
            gave_up.exit_code = cause.exit_code if cause is not None else gave_up.exit_code
            raise gave_up
        context.emit(verdict=decision.verdict, decision=decision.to_dict())
        return _Outcome(decision.verdict, decision.summary(), decision)  # type: ignore[arg-type]


class _QueryGaveUp(QueryError):
    """A check's query errors exceeded its ``consecutive_error_limit`` (Argo's Error phase): exit 5."""

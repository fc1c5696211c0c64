"""``progressive status ROLLOUT [-n NS] [-o table|json] [--watch]``: where a rollout stands, read from the cluster.

Three sources, each optional, so status works at every point of a rollout's life and says what it
could not read instead of failing:

* the state record (ConfigMap ``progressive-<rollout>``, :class:`progressive.state.State`): run, phase,
  stage, the canary weight last verified (and one being written), the last verdict and its evidence;
* the live weights, read through the rollout's router right now. The router settings come from the
  installed Pipeline: its rollback task (Task ``progressive-rollback``, present in every compiled
  Pipeline) carries the router flags as params (``router``, ``name``, ``stable``, ``canary``, ...), so the
  weights are read exactly as the rollback would read them, with nothing to keep in sync;
* the latest PipelineRun of the rollout's Pipeline (newest ``creationTimestamp``) and its state.

The table is one row, as ``kubectl get`` prints it, followed by the evidence behind the last verdict::

    NAME  RUN         PHASE      STAGE      CANARY  LIVE  VERDICT  PIPELINERUN  STATUS   UPDATED
    shop  shop-x7k2p  analyzing  analyze-5  5%      5%    pass     shop-x7k2p   Running  12s

    evidence (analyze-5): pass: every metric healthy ...

``CANARY`` is the weight in the record (``5%->10%`` while a write to 10 is in flight), ``LIVE`` the weight
in the routing object now (``mixed`` when its places disagree, ``?`` when it could not be read).
While a stage analyses, the judge's latest evidence per metric follows in plain words; while a gate waits,
the command that answers it. ``-o json`` prints the same as one JSON object: ``state`` (the whole record),
``weights`` or ``weights_error``, ``pipeline_run`` or ``pipeline_run_error``.

``--watch`` reads again every ``--interval`` until the run has ended (promoted or rolled back, its PipelineRun
done): on a terminal one screen updated in place; in a log or pipe the table (with ``-o json`` one JSON line)
each time something other than the clock changed. Ctrl-C stops watching (exit 130); the rollout goes on.

Exit codes: 0 shown, 2 bad input, 3 nothing found (no record, no Pipeline, no PipelineRun), 5 the API
kept failing for the state record.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from progressive.commands._connection import add_cluster_arguments, api_timeout, connect_to_cluster, kube_context
from progressive.commands._tekton import PIPELINERUNS, PIPELINES, TASKRUNS, children, condition
from progressive.contract import COMMANDS
from progressive.duration import format_duration, parse_duration
from progressive.errors import ConfigError, NotFoundError, StepError
from progressive.naming import is_dns_label, state_configmap
from progressive.state import State

if TYPE_CHECKING:
    from progressive.kube.client import Kube
    from progressive.kube.objects import JSON, Objects

__all__ = ["RolloutStatus", "add_arguments", "read_status", "router_params", "run", "table"]

_ROLLBACK_TASK = "progressive-rollback"
"""The catalog Task whose pipeline task carries the router flags (``catalog_task_name("rollback")``)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``progressive status``."""
    parser.add_argument("rollout", metavar="ROLLOUT", help="Rollout name.")
    parser.add_argument("-n", "--namespace", default="", help="Namespace (default: the current context's, or default).")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="Output format.")
    parser.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="Keep reading until the run ends: on a terminal one screen updated in place, else a table (or a JSON "
        "line) each time something changes.",
    )
    parser.add_argument("--interval", default="2s", help="Time between two reads with --watch (default 2s).")
    parser.add_argument(
        "--api-timeout", default="30s", help="Time limit for retrying one API call (Go duration, default 30s)."
    )
    add_cluster_arguments(parser)


@dataclass(frozen=True)
class RolloutStatus:
    """Everything ``progressive status`` found about one rollout."""

    rollout: str
    namespace: str
    state: State | None
    """``None`` when the rollout has no state record yet."""
    weights: dict[str, Any] | None = None
    weights_error: str = ""
    pipeline_run: dict[str, Any] | None = None
    pipeline_run_error: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``-o json`` document."""
        data: dict[str, Any] = {
            "rollout": self.rollout,
            "namespace": self.namespace,
            "state": None if self.state is None else json.loads(self.state.to_json()),
        }
        if self.weights is not None:
            data["weights"] = self.weights
        if self.weights_error:
            data["weights_error"] = self.weights_error
        data["pipeline_run"] = self.pipeline_run
        if self.pipeline_run_error:
            data["pipeline_run_error"] = self.pipeline_run_error
        return data


def router_params(pipeline: Mapping[str, Any]) -> dict[str, str] | None:
    """The router flags of the Pipeline's rollback task (literal values only), or ``None`` if it has none."""
    spec = pipeline.get("spec") or {}
    router_flags = {flag.name for flag in COMMANDS["rollback"].flags}
    for task in [*(spec.get("finally") or []), *(spec.get("tasks") or [])]:
        if (task.get("taskRef") or {}).get("name") != _ROLLBACK_TASK:
            continue
        return {
            str(param["name"]): str(param.get("value", ""))
            for param in task.get("params") or []
            if param.get("name") in router_flags and isinstance(param.get("value", ""), str)
        }
    return None


class _Flags:
    """Router flags from a Pipeline, with the rollback Task's defaults for the ones it leaves out."""

    def __init__(self, values: Mapping[str, str], api_timeout: float) -> None:
        command = COMMANDS["rollback"]
        self._values = {flag.name: flag.default or "" for flag in command.flags} | dict(values)
        self._api_timeout = api_timeout

    def text(self, name: str) -> str:
        return self._values.get(name, "")

    def enabled(self, name: str) -> bool:
        return self.text(name) == "true"

    def seconds(self, name: str) -> float:
        if name == "api-timeout":
            return self._api_timeout
        return parse_duration(self.text(name) or "0")


def _live_weights(kube: Kube, objects: Objects, pipeline: JSON, state: State) -> tuple[dict[str, Any] | None, str]:
    """The weights in the routing object now, as ``progressive step status`` reports them; or why not."""
    values = router_params(pipeline)
    if values is None:
        return (
            None,
            f"Pipeline {pipeline['metadata']['name']} has no {_ROLLBACK_TASK} task to take router settings from",
        )
    from progressive.routers import open_router, target_from  # noqa: PLC0415 - slow import, only when needed

    try:
        flags = _Flags(values, objects.api_timeout)
        target = target_from(flags)
        router = open_router(objects, target, capacity=state.stable_replicas)
        reading = router.read()
    except (StepError, ValueError) as exc:
        return None, str(exc)
    canary = reading.effective
    return {
        "router": target.router,
        "object": router.ref.qualified,
        "canary": canary,
        "stable": None if canary is None else 100 - canary,
        "places": reading.to_json(),
    }, ""


def _pipeline_run_summary(objects: Objects, run: JSON) -> dict[str, Any]:
    status = run.get("status") or {}
    now = condition(run)
    summary: dict[str, Any] = {
        "name": run["metadata"]["name"],
        "status": now.label,
        "done": now.done,
        "message": now.message,
        "start_time": status.get("startTime", ""),
        "completion_time": status.get("completionTime", ""),
    }
    if now.status == "False":
        for child in children(run):
            task_run = objects.find(TASKRUNS.ref(run["metadata"]["namespace"], child.name))
            if task_run is not None and condition(task_run).status == "False":
                summary["failed_task"] = child.pipeline_task
                summary["failed_reason"] = condition(task_run).label
                break
    return summary


def _latest_run(objects: Objects, namespace: str, rollout: str) -> JSON | None:
    runs = [
        run
        for run in objects.list(PIPELINERUNS, namespace)
        if ((run.get("spec") or {}).get("pipelineRef") or {}).get("name") == rollout
    ]
    if not runs:
        return None
    return max(runs, key=lambda run: (run["metadata"].get("creationTimestamp", ""), run["metadata"]["name"]))


def read_status(kube: Kube, namespace: str, rollout: str, *, api_timeout: float) -> RolloutStatus:
    """Read the record, the live weights and the latest PipelineRun; :class:`NotFoundError` if none exists."""
    from progressive.kube.objects import Objects  # noqa: PLC0415
    from progressive.kube.state_store import StateStore  # noqa: PLC0415

    objects = Objects(kube, api_timeout)
    store = StateStore(kube, namespace, rollout, api_timeout=api_timeout)
    recorded = objects.find(store.ref)
    state = store.read() if recorded is not None else None
    pipeline = objects.find(PIPELINES.ref(namespace, rollout))
    weights: dict[str, Any] | None = None
    weights_error = ""
    if pipeline is not None:
        weights, weights_error = _live_weights(kube, objects, pipeline, state or State())
    else:
        weights_error = f"Pipeline {namespace}/{rollout} not found, so the router settings are unknown"
    latest: dict[str, Any] | None = None
    latest_error = ""
    try:
        found = _latest_run(objects, namespace, rollout)
        latest = None if found is None else _pipeline_run_summary(objects, found)
    except StepError as exc:
        latest_error = str(exc)
    if state is None and pipeline is None and latest is None:
        raise NotFoundError(
            f"rollout {namespace}/{rollout} not found: no state record (ConfigMap {state_configmap(rollout)}), "
            f"no Pipeline {rollout} and no PipelineRun of it in namespace {namespace}; check the name and -n"
        )
    return RolloutStatus(rollout, namespace, state, weights, weights_error, latest, latest_error)


def _age(timestamp: str, now: float) -> str:
    if not timestamp:
        return "-"
    try:
        then = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "?"
    return format_duration(max(0.0, now - then))


def table(status: RolloutStatus, *, now: float | None = None) -> str:
    """The kubectl-like table and the evidence line (see the module docstring)."""
    state = status.state or State()
    moment = time.time() if now is None else now
    canary = "-" if state.canary_weight is None else f"{state.canary_weight}%"
    if state.pending_weight is not None and state.pending_weight != state.canary_weight:
        canary = f"{canary}->{state.pending_weight}%"
    if status.weights is not None:
        live = "mixed" if status.weights["canary"] is None else f"{status.weights['canary']}%"
    else:
        live = "?"
    run = status.pipeline_run or {}
    row = {
        "NAME": status.rollout,
        "RUN": state.run_id or "-",
        "PHASE": state.phase or ("not started" if status.state is None else "-"),
        "STAGE": state.stage or "-",
        "CANARY": canary,
        "LIVE": live,
        "VERDICT": state.verdict or "-",
        "PIPELINERUN": run.get("name", "-"),
        "STATUS": run.get("status", "-"),
        "UPDATED": _age(state.updated_at, moment),
    }
    widths = {key: max(len(key), len(value)) for key, value in row.items()}
    lines = [
        "  ".join(key.ljust(widths[key]) for key in row).rstrip(),
        "  ".join(value.ljust(widths[key]) for key, value in row.items()).rstrip(),
    ]
    details: list[str] = []
    now = state.evidence.get("now")
    if state.phase == "analyzing" and isinstance(now, Mapping) and now.get("stage") == state.stage:
        dwell = now.get("dwell")
        after = f" after {format_duration(dwell)}" if isinstance(dwell, int | float) else ""
        details.append(f"evidence now ({state.stage}{after}):")
        details += [f"  {line}" for line in now.get("metrics") or []]
    if state.phase == "waiting-approval":
        since = f" since {state.waiting_since}" if state.waiting_since else ""
        details.append(
            f"waiting for approval at stage {state.stage}{since}: progressive approve {status.rollout} -n "
            f"{status.namespace} --stage {state.stage} (or progressive abort {status.rollout} -n {status.namespace})"
        )
    if state.summary:
        details.append(f"evidence ({state.verdict_stage or state.stage or 'last stage'}): {state.summary}")
    if state.aborted is not None:
        details.append(
            f"aborted by {state.aborted.by} at {state.aborted.at}: {state.aborted.reason or 'no reason given'}"
        )
    if run.get("failed_task"):
        details.append(f"PipelineRun {run['name']}: stage {run['failed_task']} failed ({run.get('failed_reason', '')})")
    if run.get("message") and run.get("status") not in {"Running", "Succeeded"}:
        details.append(f"PipelineRun {run['name']}: {run['message']}")
    if status.weights_error:
        details.append(f"live weights: {status.weights_error}")
    if status.pipeline_run_error:
        details.append(f"PipelineRuns: {status.pipeline_run_error}")
    if details:
        lines += ["", *details]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the rollout's status; see the module docstring."""
    rollout: str = args.rollout
    if not is_dns_label(rollout):
        raise ConfigError(f"ROLLOUT: {rollout!r} is not a rollout name (lower-case DNS label)")
    timeout = api_timeout(args)
    try:
        interval = parse_duration(args.interval)
    except ValueError:
        interval = 0.0
    if interval <= 0:
        raise ConfigError(f"--interval: {args.interval!r} is not a positive Go duration such as 2s")
    namespace = args.namespace or kube_context(args).namespace or "default"
    try:
        kube = connect_to_cluster(args)
        try:
            if args.watch:
                return _watch(kube, namespace, rollout, api_timeout=timeout, interval=interval, output=args.output)
            status = read_status(kube, namespace, rollout, api_timeout=timeout)
        finally:
            kube.close()
    except StepError as exc:
        print(f"progressive status: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    if args.output == "json":
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(table(status))
    return 0


def finished(status: RolloutStatus) -> bool:
    """Whether the run has ended: the record says promoted or rolled back and no PipelineRun is still running."""
    phase = status.state.phase if status.state is not None else ""
    running = status.pipeline_run is not None and not status.pipeline_run.get("done", True)
    return phase in {"promoted", "rolled-back"} and not running


def _watch(kube: Kube, namespace: str, rollout: str, *, api_timeout: float, interval: float, output: str) -> int:
    """``--watch``: read until the run ends; exit 0, or 130 on Ctrl-C (nothing in the cluster is touched)."""
    from progressive.commands._watch import Watch  # noqa: PLC0415

    json_lines = output == "json"
    with Watch(sys.stdout, live=sys.stdout.isatty() and not json_lines) as view:
        try:
            while True:
                status = read_status(kube, namespace, rollout, api_timeout=api_timeout)
                if json_lines:
                    view.show(json.dumps(status.to_json(), sort_keys=True), changed=json.dumps(status.to_json()))
                else:
                    view.show(table(status), changed=json.dumps(status.to_json(), sort_keys=True))
                if finished(status):
                    return 0
                time.sleep(interval)
        except KeyboardInterrupt:
            view.line(f"stopped watching {namespace}/{rollout}; the rollout goes on")
            return 130
